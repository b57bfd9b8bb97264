"""Static files under content-hashed names, compressed once (docs/architecture.md, "Static files").

An `AssetRegistry` knows the directories served as static files, each under a URL prefix
(`/static` → `web/static/`). For every file it holds the body, a content hash and so a second
name, `marketbox.css` → `marketbox.3f2a9c1d.css`, which a browser may keep for a year without
asking again: a changed file is a new name. Pages take the hashed URL from `static_url()`
(a Jinja global, `register_static_url`), never write it by hand.

Our own scripts and stylesheets name each other by their plain URL (`import … from
'/static/miniapp/bridge.js'`); the registry rewrites such a reference to the hashed URL before
hashing the file, so a page and everything it pulls in come from the cache on a repeat visit,
and a changed dependency changes the name of every file that imports it.

Our scripts and stylesheets are served without their comments (`strip_comments`): they are
written for readers (a third of bridge.js is its manual), and on a bad network every kilobyte
counts. Nothing else changes: no renaming, no reformatting of code.

Bodies are compressed (brotli, gzip) on first demand and kept: never once per request.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import brotli
import jinja2

HASH_LENGTH = 8
# What is worth compressing; images in PNG or ICO already are, or are too small to matter.
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
# Brotli's best quality costs ~100 ms for our stylesheet, seconds for Swagger UI's 1.5 MB
# bundle: big files get a quicker setting (first request only, then kept).
BEST_QUALITY_UP_TO = 256 * 1024
ENCODINGS = ("br", "gzip")

# A quoted or url()-wrapped absolute path in a script or stylesheet: '/static/x.js'.
_REFERENCE = re.compile(r"""(?P<open>['"(])(?P<path>/[A-Za-z0-9_./-]+)(?P<close>['")])""")
_HASHED = re.compile(
    rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)$"
)

mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("image/x-icon", ".ico")


def media_type_of(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if guessed.startswith("text/") or guessed == "image/svg+xml":
        return f"{guessed}; charset=utf-8"
    return guessed


def compress(body: bytes, encoding: str, *, quality: int = 11) -> bytes:
    """`body` in `encoding` ("br" or "gzip")."""
    if encoding == "br":
        compressed: bytes = brotli.compress(body, quality=quality)
        return compressed
    return gzip.compress(body, compresslevel=9 if quality >= 9 else 6, mtime=0)


@dataclass(slots=True, eq=False)
class Asset:
    """One static file as served: its URL, hashed URL, body and media type."""

    url: str  # "/static/marketbox.css"
    hashed_url: str  # "/static/marketbox.3f2a9c1d.css"
    body: bytes
    media_type: str
    digest: str  # the content hash in the hashed name, also the ETag
    _encoded: dict[str, bytes] = field(default_factory=dict)

    @property
    def compressible(self) -> bool:
        return self.media_type.startswith(COMPRESSIBLE) and len(self.body) > 256

    def is_encoded(self, encoding: str) -> bool:
        return encoding in self._encoded

    def encoded(self, encoding: str) -> bytes:
        """The body in `encoding`, compressed on the first call and then kept."""
        found = self._encoded.get(encoding)
        if found is None:
            quality = 11 if len(self.body) <= BEST_QUALITY_UP_TO else 5
            found = compress(self.body, encoding, quality=quality)
            self._encoded[encoding] = found
        return found


@dataclass(frozen=True, slots=True)
class Found:
    """What a static URL resolved to; `hashed` says whether it named this exact content."""

    asset: Asset
    hashed: bool


class AssetRegistry:
    """Directories served as static files, each under a URL prefix; read on first use."""

    def __init__(self, directories: Iterable[tuple[str, Path, bool]]) -> None:
        # (URL prefix, directory, whether references inside its files are rewritten)
        self._directories = [
            (prefix.rstrip("/"), path, rewrite) for prefix, path, rewrite in directories
        ]
        self._by_url: dict[str, Asset] | None = None
        self._by_hashed_url: dict[str, Asset] = {}
        self._lock = threading.Lock()

    @property
    def prefixes(self) -> list[str]:
        return [prefix for prefix, _, _ in self._directories]

    def url(self, path: str) -> str:
        """The hashed URL of a file: "marketbox.css" (under /static) or a full path such as
        "/static/miniapp/bridge.js"; an unknown file is a KeyError (a typo fails the render)."""
        return self._assets()[_full_path(path)].hashed_url

    def find(self, url_path: str) -> Found | None:
        """The file a request path names: its plain or hashed URL, or a hashed URL of an
        earlier version (served as the current file, but not as `hashed`)."""
        assets = self._assets()
        asset = self._by_hashed_url.get(url_path)
        if asset is not None:
            return Found(asset, hashed=True)
        asset = assets.get(url_path)
        if asset is not None:
            return Found(asset, hashed=False)
        match = _HASHED.match(url_path)
        if match is not None:
            asset = assets.get(match["stem"] + match["suffix"])
            if asset is not None:
                return Found(asset, hashed=False)
        return None

    def all(self) -> list[Asset]:
        return list(self._assets().values())

    def _assets(self) -> dict[str, Asset]:
        if self._by_url is None:
            with self._lock:
                if self._by_url is None:
                    self._by_url = self._build()
        return self._by_url

    def _build(self) -> dict[str, Asset]:
        sources: dict[str, tuple[Path, bool]] = {}
        # Longer prefixes first: /static/miniapp/bridge.js is the miniapp directory's file.
        for prefix, directory, rewrite in sorted(self._directories, key=lambda d: -len(d[0])):
            for file in sorted(directory.rglob("*")):
                if file.is_file() and not file.name.startswith("."):
                    url = f"{prefix}/{file.relative_to(directory).as_posix()}"
                    sources.setdefault(url, (file, rewrite))
        built: dict[str, Asset] = {}

        def build(url: str, visiting: frozenset[str]) -> Asset:
            if url in built:
                return built[url]
            file, rewrite = sources[url]
            body = file.read_bytes()
            media_type = media_type_of(file.name)
            if rewrite and media_type.startswith(("text/javascript", "text/css")):
                body = strip_comments(body, css=media_type.startswith("text/css"))
                body = _rewrite(body, lambda ref: _hashed_reference(ref, url, visiting))
            digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
            stem, dot, suffix = url.rpartition(".")
            hashed_url = (
                f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else f"{url}.{digest}"
            )
            asset = Asset(url, hashed_url, body, media_type, digest)
            built[url] = asset
            return asset

        def _hashed_reference(ref: str, url: str, visiting: frozenset[str]) -> str | None:
            if ref not in sources or ref in visiting or ref == url:
                return None  # not ours, or a cycle: left as written
            return build(ref, visiting | {url}).hashed_url

        for url in sources:
            build(url, frozenset())
        self._by_hashed_url = {asset.hashed_url: asset for asset in built.values()}
        return built


def _rewrite(body: bytes, hashed: Callable[[str], str | None]) -> bytes:
    text = body.decode("utf-8")

    def replace(match: re.Match[str]) -> str:
        new = hashed(match["path"])
        if new is None:
            return match[0]
        return f"{match['open']}{new}{match['close']}"

    return _REFERENCE.sub(replace, text).encode("utf-8")


_CSS_COMMENT = re.compile(rb"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(rb"\s+")
_CSS_AROUND = re.compile(rb"\s*([{};])\s*")


def strip_comments(body: bytes, *, css: bool) -> bytes:
    """`body` without its comments (and, for CSS, without runs of white space).

    CSS: every `/* … */` goes (our stylesheets put none inside a string). JavaScript, where a
    full parser would be needed to be sure of a comment anywhere: only whole lines that are
    comments (`// …`, and `/* … */` blocks opening a line and closing at a line's end), and not
    at all in a file with a template literal spanning lines, whose lines are text.
    """
    if css:
        text = _CSS_COMMENT.sub(b"", body)
        return _CSS_AROUND.sub(rb"\1", _CSS_SPACE.sub(b" ", text)).strip() + b"\n"
    lines = body.split(b"\n")
    if any(line.count(b"`") % 2 for line in lines):
        return body
    kept: list[bytes] = []
    in_block = False
    for line in lines:
        bare = line.strip()
        if in_block or bare.startswith(b"/*"):
            closes = bare.find(b"*/", 0 if in_block else 2)
            if closes not in (-1, len(bare) - 2):
                return body  # code after a comment on its line: keep the file as written
            in_block = closes == -1
        elif bare and not bare.startswith(b"//"):
            kept.append(line)
    if in_block:  # an unclosed block: not what we thought, keep the file as written
        return body
    return b"\n".join(kept) + b"\n"


def _full_path(path: str) -> str:
    return path if path.startswith("/") else f"/static/{path}"


def register_static_url(env: jinja2.Environment, registry: AssetRegistry) -> None:
    """Expose `static_url` to templates: {{ static_url("marketbox.css") }}."""
    env.globals["static_url"] = registry.url
