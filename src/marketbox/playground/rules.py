"""The conformance rules of the mini-app protocol, evaluated over a playground run's log.

This module is the one place the rules are defined (docs/miniapps.md "The verdict"): the
playground page posts its log to ``/playground/evaluate`` while the mini-app runs and to
``/playground/runs`` to save it, and ``marketbox miniapp check`` reads the saved run, so the page,
the shared run and the CLI cannot disagree.

A log is a list of entries, one per event of the host bridge (``bridge.js`` ``onLog``), in order:

    {"t": 12,                   milliseconds since «Открыть»
     "kind": "received",        received | ignored | refused | sent | state | warning | note
     "reason": "id",            for ignored: source | origin | type | id | fullHeight | height
     "origin": "https://…",     the sender's origin (messages), else null
     "action": "height",        the message's action, if any
     "message": "…",            the bridge's one-line note
     "payload": {…}}            the message as it was posted (JSON; a string message as a string)

Each rule ends as one of the statuses below, with a one-line explanation; a run *passes* when
no rule is ``broken``. Every message entry is also given the ids of the rules it broke, so the
log can show each message's validation result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from marketbox.miniapp_host import protocol

FOLLOWED = "followed"
BROKEN = "broken"
NOT_EXERCISED = "not_exercised"
WARNING = "warning"
INFO = "info"
STATUSES = (FOLLOWED, BROKEN, WARNING, INFO, NOT_EXERCISED)

MESSAGE_KINDS = frozenset({"received", "ignored"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_KNOWN_CHILD_ACTIONS = frozenset(str(a) for a in protocol.ChildAction)
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Context:
    """What the host knew when it opened the mini-app."""

    url: str
    mode: str  # "order" | "suborder"
    full_height: bool
    payment_url_prefix: str
    order_container_id: str | None = None
    # How long the run waited in total (ms), to word "no init" honestly; None = unknown.
    duration_ms: int | None = None
    # The server's own fetch of the URL (service.probe): {"ok", "status", "error", "frameBlock"}.
    probe: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Context:
        mode = str(value.get("mode") or "order")
        container = value.get("orderContainerId")
        duration = value.get("durationMs")
        return cls(
            url=str(value.get("url") or ""),
            mode=mode if mode in ("order", "suborder") else "order",
            full_height=bool(value.get("fullHeight", mode == "order")),
            payment_url_prefix=str(value.get("paymentUrlPrefix") or ""),
            order_container_id=str(container).lower() if container else None,
            duration_ms=int(duration) if isinstance(duration, int | float) else None,
            probe=value["probe"] if isinstance(value.get("probe"), Mapping) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "mode": self.mode,
            "fullHeight": self.full_height,
            "paymentUrlPrefix": self.payment_url_prefix,
            "orderContainerId": self.order_container_id,
            "durationMs": self.duration_ms,
            "probe": dict(self.probe) if self.probe is not None else None,
        }


@dataclass
class Outcome:
    rule: str
    status: str
    detail: str
    entries: list[int] = field(default_factory=list)  # indices of the entries at fault

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "detail": self.detail,
            "entries": self.entries,
        }


@dataclass(frozen=True)
class Entry:
    index: int
    t: int
    kind: str
    reason: str
    origin: str
    action: Any
    payload: Any

    @property
    def data(self) -> Any:
        return self.payload.get("data") if isinstance(self.payload, dict) else None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str  # an English one-liner; the page shows the catalogue's "playground.rule.<id>"
    check: Callable[[Context, list[Entry]], Outcome]


def _entries(log: Sequence[Any]) -> list[Entry]:
    out = []
    for index, raw in enumerate(log):
        if not isinstance(raw, Mapping):
            continue
        t = raw.get("t")
        out.append(
            Entry(
                index=index,
                t=int(t) if isinstance(t, int | float) and math.isfinite(t) else 0,
                kind=str(raw.get("kind") or ""),
                reason=str(raw.get("reason") or ""),
                origin=str(raw.get("origin") or ""),
                action=raw.get("action"),
                payload=raw.get("payload"),
            )
        )
    return out


def _received(entries: list[Entry], action: str | None = None) -> list[Entry]:
    return [e for e in entries if e.kind == "received" and (action is None or e.action == action)]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# --- the rules -------------------------------------------------------------------------------


def _init(ctx: Context, entries: list[Entry]) -> Outcome:
    limit = protocol.INIT_TIMEOUT_MS
    inits = _received(entries, "init")
    if not inits:
        waited = f"{ctx.duration_ms / 1000:.1f} s" if ctx.duration_ms is not None else "the run"
        return Outcome("init", BROKEN, f"no init message arrived (waited {waited}){_why(ctx)}")
    first = inits[0]
    if first.t > limit:
        return Outcome(
            "init", BROKEN, f"init arrived after {first.t} ms (limit {limit} ms)", [first.index]
        )
    answered = any(e.kind == "sent" and e.action == "init" and e.t >= first.t for e in entries)
    if not answered:
        return Outcome("init", BROKEN, "init arrived but the host could not answer it")
    return Outcome("init", FOLLOWED, f"init at {first.t} ms, answered by the host")


def _why(ctx: Context) -> str:
    """What the server's fetch of the URL says about a silent mini-app."""
    probe = ctx.probe or {}
    if probe.get("error"):
        return f": the URL could not be loaded ({probe['error']})"
    if probe.get("frameBlock"):
        return f": the page forbids framing ({probe['frameBlock']})"
    status = probe.get("status")
    if isinstance(status, int) and status >= 400:
        return f": the URL answered HTTP {status}"
    return ""


def _id(ctx: Context, entries: list[Entry]) -> Outcome:
    wrong = [e for e in entries if e.kind == "ignored" and e.reason == "id"]
    if wrong:
        ids = sorted(
            {_short(e.payload.get("id") if isinstance(e.payload, dict) else None) for e in wrong}
        )
        return Outcome(
            "id",
            BROKEN,
            f"{_count(len(wrong), 'message')} carried id {', '.join(ids[:MAX_EXAMPLES])} "
            "instead of the frame id (they were dropped)",
            [e.index for e in wrong],
        )
    got = _received(entries)
    if not got:
        return Outcome("id", NOT_EXERCISED, "no message from the mini-app reached the host")
    return Outcome("id", FOLLOWED, f"all {_count(len(got), 'message')} echoed the frame id")


def _before_init(ctx: Context, entries: list[Entry]) -> Outcome:
    got = _received(entries)
    if not got:
        return Outcome("order", NOT_EXERCISED, "no message from the mini-app reached the host")
    early: list[Entry] = []
    for e in got:
        if e.action == "init":
            break
        early.append(e)
    if early and len(early) < len(got):
        actions = ", ".join(sorted({str(e.action) for e in early}))
        return Outcome(
            "order",
            BROKEN,
            f"{_count(len(early), 'message')} ({actions}) before the mini-app's init",
            [e.index for e in early],
        )
    if early:
        return Outcome("order", BROKEN, "messages arrived but no init", [e.index for e in early])
    return Outcome("order", FOLLOWED, "the first message was init")


def _height_problem(ctx: Context, value: Any) -> str | None:
    if ctx.full_height:
        return "a height message in a full-height frame"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"height {_short(value)} is not a number"
    if not math.isfinite(value):
        return f"height {value} is not finite"
    if not protocol.HEIGHT_MIN <= value <= protocol.HEIGHT_MAX:
        return f"height {value} is outside {protocol.HEIGHT_MIN}–{protocol.HEIGHT_MAX} px"
    return None


def _height(ctx: Context, entries: list[Entry]) -> Outcome:
    heights = _received(entries, "height")
    if not heights:
        note = " (full-height frame)" if ctx.full_height else ""
        return Outcome("height", NOT_EXERCISED, f"no height message{note}")
    bad = [(e, p) for e in heights if (p := _height_problem(ctx, e.data))]
    if bad:
        return Outcome(
            "height",
            BROKEN,
            f"{_count(len(bad), 'bad height')}: {bad[0][1]}",
            [e.index for e, _ in bad],
        )
    values = ", ".join(str(e.data) for e in heights[:MAX_EXAMPLES])
    more = "…" if len(heights) > MAX_EXAMPLES else ""
    return Outcome("height", FOLLOWED, f"{_count(len(heights), 'height')} ({values}{more} px)")


def _payment_url_problem(ctx: Context, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{_short(value)} is neither a payment URL nor null"
    prefix = ctx.payment_url_prefix
    rest = value[len(prefix) :] if prefix and value.startswith(prefix) else None
    if rest is None or not _UUID.match(rest):
        return f"{_short(value)} is not a platform payment URL ({prefix}<uuid>)"
    if ctx.mode == "suborder" and ctx.order_container_id and rest.lower() != ctx.order_container_id:
        return f"{_short(value)} is another invoice, not the container {ctx.order_container_id}"
    return None


def _done(ctx: Context, entries: list[Entry]) -> Outcome:
    done = [e for e in _received(entries) if e.action in ("done", "checkout")]
    if not done:
        return Outcome("done", NOT_EXERCISED, "the mini-app sent no done")
    bad = [
        (e, p)
        for e in done
        if (
            p := (
                None if e.action == "done" and e.data is None else _payment_url_problem(ctx, e.data)
            )
        )
    ]
    if bad:
        return Outcome(
            "done", BROKEN, f"{bad[0][0].action}: {bad[0][1]}", [e.index for e, _ in bad]
        )
    last = done[-1]
    if last.data is None:
        return Outcome("done", FOLLOWED, "done without a URL (paid outside the platform)")
    same = " of this container" if ctx.mode == "suborder" else ""
    return Outcome("done", FOLLOWED, f"{last.action} with a platform payment URL{same}")


def _error(ctx: Context, entries: list[Entry]) -> Outcome:
    errors = _received(entries, "error")
    if not errors:
        return Outcome("error", NOT_EXERCISED, "the mini-app sent no error")
    bad = [e for e in errors if e.data is not None and not isinstance(e.data, str)]
    if bad:
        return Outcome(
            "error",
            BROKEN,
            f"error data {_short(bad[0].data)} is neither text nor null",
            [e.index for e in bad],
        )
    return Outcome("error", FOLLOWED, f"{_count(len(errors), 'error')} with text or null")


def _link_problem(ctx: Context, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"link {_short(value)} is not a URL"
    try:
        scheme = urlsplit(urljoin(ctx.url, value)).scheme
    except ValueError:
        return f"link {_short(value)} is not a URL"
    return None if scheme in ("http", "https") else f"link {_short(value)} is not http(s)"


def _link(ctx: Context, entries: list[Entry]) -> Outcome:
    links = _received(entries, "link")
    if not links:
        return Outcome("link", NOT_EXERCISED, "the mini-app sent no link")
    bad = [(e, p) for e in links if (p := _link_problem(ctx, e.data))]
    if bad:
        return Outcome("link", BROKEN, bad[0][1], [e.index for e, _ in bad])
    return Outcome("link", FOLLOWED, f"{_count(len(links), 'link')}, all http(s)")


def _unavailable(ctx: Context, entries: list[Entry]) -> Outcome:
    sent = _received(entries, "unavailable")
    if not sent:
        return Outcome("unavailable", NOT_EXERCISED, "the mini-app sent no unavailable")
    bad = [e for e in sent if e.data is not None]
    if bad:
        return Outcome(
            "unavailable",
            BROKEN,
            f"unavailable carried data {_short(bad[0].data)} instead of null",
            [e.index for e in bad],
        )
    return Outcome("unavailable", FOLLOWED, "unavailable with data null")


def _version(ctx: Context, entries: list[Entry]) -> Outcome:
    inits = _received(entries, "init")
    if not inits:
        return Outcome("version", NOT_EXERCISED, "no init, so no version")
    payload = inits[0].payload if isinstance(inits[0].payload, dict) else {}
    if "version" not in payload:
        return Outcome("version", INFO, "no version declared: protocol v1")
    version = payload["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return Outcome(
            "version",
            WARNING,
            f"version {_short(version)} is not a positive integer: treated as v1",
            [inits[0].index],
        )
    return Outcome("version", INFO, f"protocol v{version} declared")


def _unknown(ctx: Context, entries: list[Entry]) -> Outcome:
    got = _received(entries)
    if not got:
        return Outcome("unknown", NOT_EXERCISED, "no message from the mini-app reached the host")
    odd = [e for e in got if not isinstance(e.action, str) or e.action not in _KNOWN_CHILD_ACTIONS]
    if odd:
        names = ", ".join(sorted({_short(e.action, 30) for e in odd})[:MAX_EXAMPLES])
        return Outcome(
            "unknown",
            WARNING,
            f"unknown action {names} ignored (allowed for forward compatibility)",
            [e.index for e in odd],
        )
    return Outcome("unknown", FOLLOWED, "every action is one of the protocol's")


def _objects(ctx: Context, entries: list[Entry]) -> Outcome:
    strings = [e for e in entries if e.kind == "ignored" and e.reason == "type"]
    if strings:
        return Outcome(
            "objects",
            BROKEN,
            f"{_count(len(strings), 'message')} posted as {type(strings[0].payload).__name__}, "
            "not an object (dropped)",
            [e.index for e in strings],
        )
    if not _received(entries):
        return Outcome("objects", NOT_EXERCISED, "no message from the mini-app reached the host")
    return Outcome("objects", FOLLOWED, "every message was a plain object")


def _origin(ctx: Context, entries: list[Entry]) -> Outcome:
    foreign = [e for e in entries if e.kind == "ignored" and e.reason == "origin"]
    if foreign:
        origins = ", ".join(sorted({e.origin for e in foreign})[:MAX_EXAMPLES])
        return Outcome(
            "origin",
            BROKEN,
            f"{_count(len(foreign), 'message')} came from {origins}, not the mini-app's origin",
            [e.index for e in foreign],
        )
    got = _received(entries)
    if not got:
        return Outcome("origin", NOT_EXERCISED, "no message from the mini-app reached the host")
    return Outcome("origin", FOLLOWED, f"every message came from {got[0].origin}")


RULES: tuple[Rule, ...] = (
    Rule("init", "answered init in time (within 15 s)", _init),
    Rule("id", "the frame id echoed on every message", _id),
    Rule("order", "no messages before init", _before_init),
    Rule("height", "heights sane (numbers, 100–5000 px, only when not full-height)", _height),
    Rule("done", "done: a platform payment URL (same container in suborder mode) or null", _done),
    Rule("error", "error: text or null", _error),
    Rule("link", "link: an http(s) URL", _link),
    Rule("unavailable", "unavailable: data null", _unavailable),
    Rule("objects", "messages are objects, not strings", _objects),
    Rule("origin", "messages come from the mini-app's origin", _origin),
    Rule("version", "protocol version declared (informational)", _version),
    Rule("unknown", "unknown actions (a warning: forward-compatible)", _unknown),
)
RULE_IDS = tuple(rule.id for rule in RULES)


@dataclass
class Verdict:
    outcomes: list[Outcome]
    problems: dict[int, list[str]]  # entry index -> ids of the rules it broke or warned about

    @property
    def passed(self) -> bool:
        return all(o.status != BROKEN for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for o in self.outcomes if o.status == s) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": self.counts(),
            "rules": [
                {**o.to_json(), "title": rule.title}
                for o, rule in zip(self.outcomes, RULES, strict=True)
            ],
            "problems": {str(k): v for k, v in sorted(self.problems.items())},
        }


def evaluate(context: Context, log: Sequence[Any]) -> Verdict:
    """Every rule over `log` (see the module comment for its shape)."""
    entries = _entries(log)
    outcomes = [rule.check(context, entries) for rule in RULES]
    problems: dict[int, list[str]] = {}
    for outcome in outcomes:
        if outcome.status in (BROKEN, WARNING):
            for index in outcome.entries:
                problems.setdefault(index, []).append(outcome.rule)
    return Verdict(outcomes, problems)
