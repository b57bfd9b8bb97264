"""The conformance rules of the mini-app protocol, evaluated over a playground run's log.

This module is the one place the rules are defined (docs/miniapps.md "The verdict"): the
playground page posts its log to ``/playground/evaluate`` while the mini-app runs and to
``/playground/runs`` to save it, and ``marketbox miniapp check`` reads the saved run, so the page,
the shared run and the CLI cannot disagree.

A log is a list of entries, one per event of the host bridge (``bridge.js`` ``onLog``), in order:

    {"t": 12,                   milliseconds since «Открыть»
     "kind": "received",        received | ignored | refused | sent | state | warning | note
     "reason": "id",            for ignored: source | origin | type | id | fullHeight | height;
                                for refused: type | payment_url | container | link
     "value": "…",              for those refused: the refused value (else null)
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
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

from marketbox.miniapp_host import protocol
from marketbox.toolkit.formatting import format_quantity
from marketbox.toolkit.i18n import N_, NP_, t

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


@dataclass(init=False)
class Text:
    """An explanation in no language yet: a catalogue key ("playground.detail.…") and its
    parameters, rendered in the reader's language. A parameter is the mini-app's own value
    quoted as it came (a string), a number (formatted for the language; `n` picks the plural
    form) or another Text (a clause of this one). `Text(N_("…"), n=3, origins="…")`."""

    key: str
    params: dict[str, Any]

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key, self.params = key, params

    def render(self, locale: str) -> str:
        params = {
            name: value if name == "n" else _param(value, locale)  # `n`: t() picks the form
            for name, value in self.params.items()
        }
        return t(self.key, locale, **params)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "params": {k: _param_json(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, value: Any) -> Text | None:
        """A stored Text (a saved run is untrusted): None unless every part has the shape
        `to_json` writes and every key is one of the verdict's."""
        if not isinstance(value, Mapping) or not isinstance(value.get("params"), Mapping):
            return None
        key = value.get("key")
        if not isinstance(key, str) or not key.startswith(_TEXT_KEYS):
            return None
        params: dict[str, Any] = {}
        for name, raw in value["params"].items():
            if isinstance(raw, Mapping):
                inner = cls.from_json(raw)
                if inner is None:
                    return None
                params[str(name)] = inner
            elif isinstance(raw, str | int) and not isinstance(raw, bool):
                params[str(name)] = raw
            elif isinstance(raw, float) and math.isfinite(raw):
                params[str(name)] = Decimal(str(raw))
            else:
                return None
        try:  # the key exists and its placeholders are the parameters
            template = t(key, "en", n=params["n"]) if "n" in params else t(key, "en")
        except (KeyError, TypeError):
            return None
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        return cls(key, **params) if fields == set(params) - {"n"} else None


_TEXT_KEYS = ("playground.detail.", "playground.why.", "playground.height.", "playground.url.",
              "playground.link.")  # fmt: skip


def _param(value: Any, locale: str) -> Any:
    if isinstance(value, Text):
        return value.render(locale)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return format_quantity(value, locale)
    return value


def _param_json(value: Any) -> Any:
    if isinstance(value, Text):
        return value.to_json()
    if isinstance(value, Decimal):
        return float(value)  # a tenth of a second: JSON's number is exact enough
    return value


@dataclass
class Outcome:
    rule: str
    status: str
    text: Text
    entries: list[int] = field(default_factory=list)  # indices of the entries at fault

    @property
    def detail(self) -> str:
        """The explanation in English (the JSON document's and the CLI's language)."""
        return self.text.render("en")

    def to_json(self, locale: str = "en") -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "detail": self.text.render(locale),
            "message": self.text.to_json(),
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


# --- the rules -------------------------------------------------------------------------------
# Each explanation is a Text: a catalogue key with its parameters (the mini-app's own values
# quoted as they came, counts for the plural forms).


def _no_messages(rule: str) -> Outcome:
    return Outcome(rule, NOT_EXERCISED, Text(N_("playground.detail.no_messages")))


def _init(ctx: Context, entries: list[Entry]) -> Outcome:
    limit = protocol.INIT_TIMEOUT_MS
    inits = _received(entries, "init")
    if not inits:
        why = _why(ctx)
        if ctx.duration_ms is None:
            return Outcome("init", BROKEN, Text(N_("playground.detail.init.missing"), why=why))
        seconds = Decimal(ctx.duration_ms).scaleb(-3).quantize(Decimal("0.1"))
        waited = Text(N_("playground.detail.init.missing_after"), seconds=seconds, why=why)
        return Outcome("init", BROKEN, waited)
    first = inits[0]
    if first.t > limit:
        late = Text(N_("playground.detail.init.late"), t=first.t, limit=limit)
        return Outcome("init", BROKEN, late, [first.index])
    answered = any(e.kind == "sent" and e.action == "init" and e.t >= first.t for e in entries)
    if not answered:
        return Outcome("init", BROKEN, Text(N_("playground.detail.init.unanswered")))
    return Outcome("init", FOLLOWED, Text(N_("playground.detail.init.ok"), t=first.t))


def _why(ctx: Context) -> Text | str:
    """What the server's fetch of the URL says about a silent mini-app ("" when nothing)."""
    probe = ctx.probe or {}
    if probe.get("error"):
        return Text(N_("playground.why.unreachable"), error=str(probe["error"]))
    if probe.get("frameBlock"):
        return Text(N_("playground.why.framing"), header=str(probe["frameBlock"]))
    status = probe.get("status")
    if isinstance(status, int) and status >= 400:
        return Text(N_("playground.why.http"), status=str(status))
    return ""


def _id(ctx: Context, entries: list[Entry]) -> Outcome:
    wrong = [e for e in entries if e.kind == "ignored" and e.reason == "id"]
    if wrong:
        ids = sorted(
            {_short(e.payload.get("id") if isinstance(e.payload, dict) else None) for e in wrong}
        )
        text = Text(
            NP_("playground.detail.id.wrong"), n=len(wrong), ids=", ".join(ids[:MAX_EXAMPLES])
        )
        return Outcome("id", BROKEN, text, [e.index for e in wrong])
    got = _received(entries)
    if not got:
        return _no_messages("id")
    return Outcome("id", FOLLOWED, Text(NP_("playground.detail.id.ok"), n=len(got)))


def _before_init(ctx: Context, entries: list[Entry]) -> Outcome:
    got = _received(entries)
    if not got:
        return _no_messages("order")
    early: list[Entry] = []
    for e in got:
        if e.action == "init":
            break
        early.append(e)
    if early and len(early) < len(got):
        actions = ", ".join(sorted({str(e.action) for e in early}))
        text = Text(NP_("playground.detail.order.early"), n=len(early), actions=actions)
        return Outcome("order", BROKEN, text, [e.index for e in early])
    if early:
        no_init = Text(N_("playground.detail.order.no_init"))
        return Outcome("order", BROKEN, no_init, [e.index for e in early])
    return Outcome("order", FOLLOWED, Text(N_("playground.detail.order.ok")))


def _height_problem(ctx: Context, value: Any) -> Text | None:
    if ctx.full_height:
        return Text(N_("playground.height.full_height"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Text(N_("playground.height.not_number"), value=_short(value))
    if not math.isfinite(value):
        return Text(N_("playground.height.not_finite"), value=str(value))
    if not protocol.HEIGHT_MIN <= value <= protocol.HEIGHT_MAX:
        return Text(
            N_("playground.height.out_of_range"),
            value=str(value),
            min=str(protocol.HEIGHT_MIN),
            max=str(protocol.HEIGHT_MAX),
        )
    return None


def _height(ctx: Context, entries: list[Entry]) -> Outcome:
    heights = _received(entries, "height")
    if not heights:
        full = ctx.full_height
        key = (
            N_("playground.detail.height.none_full")
            if full
            else N_("playground.detail.height.none")
        )
        return Outcome("height", NOT_EXERCISED, Text(key))
    bad = [(e, p) for e in heights if (p := _height_problem(ctx, e.data))]
    if bad:
        text = Text(NP_("playground.detail.height.bad"), n=len(bad), problem=bad[0][1])
        return Outcome("height", BROKEN, text, [e.index for e, _ in bad])
    values = ", ".join(str(e.data) for e in heights[:MAX_EXAMPLES])
    more = "…" if len(heights) > MAX_EXAMPLES else ""
    text = Text(NP_("playground.detail.height.ok"), n=len(heights), values=values + more)
    return Outcome("height", FOLLOWED, text)


def _payment_url_problem(ctx: Context, value: Any) -> Text | None:
    if not isinstance(value, str):
        return Text(N_("playground.url.not_string"), value=_short(value))
    prefix = ctx.payment_url_prefix
    rest = value[len(prefix) :] if prefix and value.startswith(prefix) else None
    if rest is None or not _UUID.match(rest):
        return Text(N_("playground.url.foreign"), value=_short(value), prefix=prefix)
    if ctx.mode == "suborder" and ctx.order_container_id and rest.lower() != ctx.order_container_id:
        return Text(
            N_("playground.url.other_invoice"),
            value=_short(value),
            container=ctx.order_container_id,
        )
    return None


def _done(ctx: Context, entries: list[Entry]) -> Outcome:
    done = [e for e in _received(entries) if e.action in ("done", "checkout")]
    if not done:
        return Outcome("done", NOT_EXERCISED, Text(N_("playground.detail.done.none")))
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
        text = Text(
            N_("playground.detail.done.bad"), action=str(bad[0][0].action), problem=bad[0][1]
        )
        return Outcome("done", BROKEN, text, [e.index for e, _ in bad])
    last = done[-1]
    if last.data is None:
        return Outcome("done", FOLLOWED, Text(N_("playground.detail.done.no_url")))
    ours = ctx.mode == "suborder"
    key = N_("playground.detail.done.ok_container") if ours else N_("playground.detail.done.ok")
    return Outcome("done", FOLLOWED, Text(key, action=str(last.action)))


def _error(ctx: Context, entries: list[Entry]) -> Outcome:
    errors = _received(entries, "error")
    if not errors:
        return Outcome("error", NOT_EXERCISED, Text(N_("playground.detail.error.none")))
    bad = [e for e in errors if e.data is not None and not isinstance(e.data, str)]
    if bad:
        text = Text(N_("playground.detail.error.bad"), value=_short(bad[0].data))
        return Outcome("error", BROKEN, text, [e.index for e in bad])
    return Outcome("error", FOLLOWED, Text(NP_("playground.detail.error.ok"), n=len(errors)))


def _link_problem(ctx: Context, value: Any) -> Text | None:
    if not isinstance(value, str) or not value.strip():
        return Text(N_("playground.link.not_url"), value=_short(value))
    try:
        scheme = urlsplit(urljoin(ctx.url, value)).scheme
    except ValueError:
        return Text(N_("playground.link.not_url"), value=_short(value))
    return (
        None
        if scheme in ("http", "https")
        else Text(N_("playground.link.not_http"), value=_short(value))
    )


def _link(ctx: Context, entries: list[Entry]) -> Outcome:
    links = _received(entries, "link")
    if not links:
        return Outcome("link", NOT_EXERCISED, Text(N_("playground.detail.link.none")))
    bad = [(e, p) for e in links if (p := _link_problem(ctx, e.data))]
    if bad:
        return Outcome("link", BROKEN, bad[0][1], [e.index for e, _ in bad])
    return Outcome("link", FOLLOWED, Text(NP_("playground.detail.link.ok"), n=len(links)))


def _unavailable(ctx: Context, entries: list[Entry]) -> Outcome:
    sent = _received(entries, "unavailable")
    if not sent:
        return Outcome("unavailable", NOT_EXERCISED, Text(N_("playground.detail.unavailable.none")))
    bad = [e for e in sent if e.data is not None]
    if bad:
        text = Text(N_("playground.detail.unavailable.bad"), value=_short(bad[0].data))
        return Outcome("unavailable", BROKEN, text, [e.index for e in bad])
    return Outcome("unavailable", FOLLOWED, Text(N_("playground.detail.unavailable.ok")))


def _version(ctx: Context, entries: list[Entry]) -> Outcome:
    inits = _received(entries, "init")
    if not inits:
        return Outcome("version", NOT_EXERCISED, Text(N_("playground.detail.version.none")))
    payload = inits[0].payload if isinstance(inits[0].payload, dict) else {}
    if "version" not in payload:
        return Outcome("version", INFO, Text(N_("playground.detail.version.v1")))
    version = payload["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        text = Text(N_("playground.detail.version.bad"), value=_short(version))
        return Outcome("version", WARNING, text, [inits[0].index])
    return Outcome("version", INFO, Text(N_("playground.detail.version.ok"), version=str(version)))


def _unknown(ctx: Context, entries: list[Entry]) -> Outcome:
    got = _received(entries)
    if not got:
        return _no_messages("unknown")
    odd = [e for e in got if not isinstance(e.action, str) or e.action not in _KNOWN_CHILD_ACTIONS]
    if odd:
        names = ", ".join(sorted({_short(e.action, 30) for e in odd})[:MAX_EXAMPLES])
        text = Text(N_("playground.detail.unknown.odd"), names=names)
        return Outcome("unknown", WARNING, text, [e.index for e in odd])
    return Outcome("unknown", FOLLOWED, Text(N_("playground.detail.unknown.ok")))


def _objects(ctx: Context, entries: list[Entry]) -> Outcome:
    strings = [e for e in entries if e.kind == "ignored" and e.reason == "type"]
    if strings:
        kind = type(strings[0].payload).__name__
        text = Text(NP_("playground.detail.objects.bad"), n=len(strings), type=kind)
        return Outcome("objects", BROKEN, text, [e.index for e in strings])
    if not _received(entries):
        return _no_messages("objects")
    return Outcome("objects", FOLLOWED, Text(N_("playground.detail.objects.ok")))


def _origin(ctx: Context, entries: list[Entry]) -> Outcome:
    foreign = [e for e in entries if e.kind == "ignored" and e.reason == "origin"]
    if foreign:
        origins = ", ".join(sorted({e.origin for e in foreign})[:MAX_EXAMPLES])
        text = Text(NP_("playground.detail.origin.bad"), n=len(foreign), origins=origins)
        return Outcome("origin", BROKEN, text, [e.index for e in foreign])
    got = _received(entries)
    if not got:
        return _no_messages("origin")
    return Outcome(
        "origin", FOLLOWED, Text(N_("playground.detail.origin.ok"), origin=got[0].origin)
    )


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

    def to_json(self, locale: str = "en") -> dict[str, Any]:
        """The verdict as the page, a saved run and the CLI read it: each rule's `detail` in
        `locale` (English in a stored run) and its `message`, from which `localized` renders
        it again in another language."""
        return {
            "passed": self.passed,
            "counts": self.counts(),
            "rules": [
                {**o.to_json(locale), "title": rule.title}
                for o, rule in zip(self.outcomes, RULES, strict=True)
            ],
            "problems": {str(k): v for k, v in sorted(self.problems.items())},
        }


def localized(verdict: Mapping[str, Any], locale: str) -> dict[str, Any]:
    """A stored verdict (`Verdict.to_json`) with each rule's `detail` in `locale`. A rule whose
    `message` is missing or unreadable (a run saved before explanations had messages, or a
    changed document) keeps the detail it was stored with."""
    rules = []
    for rule in verdict.get("rules") or []:
        text = Text.from_json(rule.get("message")) if isinstance(rule, Mapping) else None
        if text is None:
            rules.append(rule)
            continue
        try:
            detail = text.render(locale)
        except (KeyError, IndexError, TypeError, ValueError):
            detail = rule.get("detail")
        rules.append({**rule, "detail": detail})
    return {**verdict, "rules": rules}


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
