"""The mini-app playground (docs/miniapps.md "The playground"); sandbox mode only, a 404 in
production.

    GET  /playground                 the form: mini-app URL, mode, buyer data, shopId, container
                                     metaData (JSON-LD samples); ?url=&mode= prefill it
    POST /playground                 check the form; in suborder mode open a real pending sandbox
                                     invoice; render the page again with the mini-app opened in
                                     the host bridge, the live protocol log and the verdict
    POST /playground/evaluate        {"context", "log"} -> the verdict (rules.py), not stored
    POST /playground/runs            {"context", "log"} -> saved: {"id", "url", "jsonUrl",
                                     "verdict"}
    GET  /playground/runs/{id}       a saved run, read-only: verdict and log
    GET  /playground/runs/{id}.json  the same as a JSON download
    GET  /playground/static/{f}      the page's ES module (web/assets.py)

Language: ``?lang=ru|en`` as on the marketplace pages; the verdict's explanations too (the page
posts with its own ``?lang=``). A stored run keeps them in English, the JSON download's and
`marketbox miniapp check`'s language, with each one's message to render it again.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from marketbox import parsing
from marketbox.errors import BadRequest, Forbidden, NotFound
from marketbox.marketplace import host
from marketbox.marketplace import session as buyer_session
from marketbox.marketplace.views import page_locale
from marketbox.playground import rules, samples, service
from marketbox.toolkit import i18n
from marketbox.toolkit.formatting import register_filters
from marketbox.toolkit.i18n import N_, register_i18n
from marketbox.web import assets
from marketbox.web import headers as web_headers

router = APIRouter(include_in_schema=False)

_HERE = Path(__file__).parent
_WEB_TEMPLATES = _HERE.parent / "web" / "templates"
MAX_URL = 2000
MAX_META_DATA = 20_000
MODES = ("order", "suborder")
LOCALES = ("ru", "en")
STATUS_KEYS = {
    rules.FOLLOWED: N_("playground.status.followed"),
    rules.BROKEN: N_("playground.status.broken"),
    rules.WARNING: N_("playground.status.warning"),
    rules.INFO: N_("playground.status.info"),
    rules.NOT_EXERCISED: N_("playground.status.not_exercised"),
}
RULE_KEYS = {
    "init": N_("playground.rule.init"),
    "id": N_("playground.rule.id"),
    "order": N_("playground.rule.order"),
    "height": N_("playground.rule.height"),
    "done": N_("playground.rule.done"),
    "error": N_("playground.rule.error"),
    "link": N_("playground.rule.link"),
    "unavailable": N_("playground.rule.unavailable"),
    "objects": N_("playground.rule.objects"),
    "origin": N_("playground.rule.origin"),
    "version": N_("playground.rule.version"),
    "unknown": N_("playground.rule.unknown"),
}
# Keys the templates build at run time ("playground.mode." ~ mode, …).
BUILT_KEYS = (
    N_("playground.mode.order"),
    N_("playground.mode.suborder"),
    N_("playground.sample.flight"),
    N_("playground.sample.rail"),
    N_("playground.sample.lodging"),
    N_("playground.dir.in"),
    N_("playground.dir.out"),
    N_("playground.dir.host"),
)
# A log entry's kind as the log shows it where the entry has no action (a note, a state) and
# on the chip of an ignored or refused message.
KIND_KEYS = {
    "note": N_("playground.kind.note"),
    "state": N_("playground.kind.state"),
    "warning": N_("playground.kind.warning"),
    "ignored": N_("playground.kind.ignored"),
    "refused": N_("playground.kind.refused"),
    "received": N_("playground.kind.received"),
    "sent": N_("playground.kind.sent"),
}
# A log entry's note in the page's language (the bridge's own note is English): by its kind and
# reason, a state by its name. The page's script does the same from `pg-texts` (noteText).
NOTE_KEYS = {
    "ignored.source": N_("playground.note.ignored.source"),
    "ignored.origin": N_("playground.note.ignored.origin"),
    "ignored.type": N_("playground.note.ignored.type"),
    "ignored.id": N_("playground.note.ignored.id"),
    "ignored.fullHeight": N_("playground.note.ignored.fullHeight"),
    "ignored.height": N_("playground.note.ignored.height"),
    "refused.type": N_("playground.note.refused.type"),
    "refused.payment_url": N_("playground.note.refused.payment_url"),
    "refused.container": N_("playground.note.refused.container"),
    "refused.link": N_("playground.note.refused.link"),
    "state.loading": N_("playground.note.state.loading"),
    "state.ready": N_("playground.note.state.ready"),
    "state.failed": N_("playground.note.state.failed"),
    "state.closed": N_("playground.note.state.closed"),
}


def note_text(entry: dict[str, Any], lang: str) -> str:
    """`entry`'s note as the page shows it (the script's noteText, for a saved run)."""
    kind, reason, message = entry.get("kind"), entry.get("reason"), entry.get("message")
    key = f"state.{message}" if kind == "state" else f"{kind}.{reason}"
    if key not in NOTE_KEYS:
        return str(message or "")
    fields = {name: str(entry.get(name) or "") for name in ("origin", "action", "value")}
    return i18n.t(NOTE_KEYS[key], lang, **fields)


FORM_ERRORS = (
    N_("playground.error.url"),
    N_("playground.error.shop_id"),
    N_("playground.error.meta_data"),
)

templates = jinja2.Environment(
    loader=jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(_HERE / "templates"), jinja2.FileSystemLoader(_WEB_TEMPLATES)]
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
register_filters(templates)
register_i18n(templates)
templates.globals["script_json"] = host.script_json
templates.globals["rule_keys"] = RULE_KEYS
templates.globals["status_keys"] = STATUS_KEYS
templates.globals["kind_keys"] = KIND_KEYS
assets.register(templates)


def _ctx(request: Request) -> Any:
    ctx = request.app.state.ctx
    if ctx.settings.mode != "sandbox":
        raise NotFound()
    return ctx


def _render(request: Request, template: str, context: dict[str, Any], **kw: Any) -> HTMLResponse:
    lang, remember = page_locale(request)
    query = dict(request.query_params)
    lang_urls = {}
    for code in LOCALES:
        query["lang"] = code
        lang_urls[code] = f"{request.url.path}?{urlencode(query)}"
    page = {
        "lang": lang,
        "lang_urls": lang_urls,
        "rule_texts": {rule: i18n.t(key, lang) for rule, key in RULE_KEYS.items()},
        "note_texts": {name: i18n.t(key, lang) for name, key in NOTE_KEYS.items()},
        "kind_texts": {kind: i18n.t(key, lang) for kind, key in KIND_KEYS.items()},
        "status_texts": {status: i18n.t(key, lang) for status, key in STATUS_KEYS.items()},
        **context,
    }
    response = HTMLResponse(templates.get_template(template).render(page), **kw)
    if remember:
        response.set_cookie("lang", lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    return response


def _defaults(request: Request) -> dict[str, str]:
    q = request.query_params
    mode = q.get("mode", "order")
    lang, _ = page_locale(request)
    return {
        "url": q.get("url", "")[:MAX_URL],
        "mode": mode if mode in MODES else "order",
        "name": "Анна Смирнова",
        "email": "anna@example.org",
        "phone": "+79005556677",
        "locale": lang,
        "shop_id": "1",
        "sample": samples.DEFAULT_SAMPLE,
        "meta_data": json.dumps(
            samples.SAMPLES[samples.DEFAULT_SAMPLE], ensure_ascii=False, indent=2
        ),
    }


def _form_page(
    request: Request, form: dict[str, str], errors: dict[str, str], **extra: Any
) -> HTMLResponse:
    return _render(
        request,
        "playground/index.html",
        {
            "form": form,
            "errors": errors,
            "samples": {
                name: json.dumps(value, ensure_ascii=False, indent=2)
                for name, value in samples.SAMPLES.items()
            },
            "frame": extra.pop("frame", None),
            "run_context": extra.pop("run_context", None),
        },
        **extra,
    )


@router.get("/playground", response_class=HTMLResponse)
async def playground(request: Request) -> Response:
    _ctx(request)
    return _form_page(request, _defaults(request), {})


def _check_form(raw: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    url = raw["url"].strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = "playground.error.url"
    clean["url"] = url
    clean["mode"] = raw["mode"] if raw["mode"] in MODES else "order"
    clean["locale"] = raw["locale"] if raw["locale"] in LOCALES else "ru"
    try:
        clean["shop_id"] = parsing.parse_int(raw["shop_id"], minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        errors["shop_id"] = "playground.error.shop_id"
    buyer, buyer_errors = buyer_session.clean(raw["name"], raw["email"], raw["phone"])
    for key in buyer_errors:
        errors[key] = buyer_errors[key]
    clean["buyer"] = buyer
    if clean["mode"] == "suborder":
        try:
            meta = json.loads(raw["meta_data"]) if len(raw["meta_data"]) <= MAX_META_DATA else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            errors["meta_data"] = "playground.error.meta_data"
        clean["meta_data"] = meta
    return clean, errors


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    own = {
        f"{request.url.scheme}://{request.url.netloc}",
        request.app.state.ctx.settings.public_base,
    }
    return origin is None or origin in own


@router.post("/playground", response_class=HTMLResponse)
async def open_playground(request: Request) -> Response:
    ctx = _ctx(request)
    if not _same_origin(request):
        return HTMLResponse("Forbidden", status_code=403)
    posted = await request.form()
    raw = {key: str(posted.get(key) or "") for key in _defaults(request)}
    clean, errors = _check_form(raw)
    if errors:
        return _form_page(request, raw, errors, status_code=422)
    settings = ctx.settings
    container_id = None
    meta_data: list[Any] = []
    async with ctx.db.transaction() as conn:
        launch_keys = await service.launch_keys_for(conn, clean["shop_id"])
        if clean["mode"] == "suborder":
            container_id = await service.open_container(
                conn, settings=settings, meta_data=clean["meta_data"], locale=clean["locale"]
            )
            meta_data = await service.container_meta_data(conn, container_id)
    origin = f"{urlsplit(clean['url']).scheme}://{urlsplit(clean['url']).netloc}"
    probe = await service.probe(clean["url"], our_origin=settings.public_base)
    frame = host.frame_config(
        url=clean["url"],
        origins=[origin],
        mode=clean["mode"],
        shop_id=clean["shop_id"],
        title="Playground",
        locale=clean["locale"],
        buyer=clean["buyer"],
        payment_url_prefix=settings.payment_url_prefix,
        launch_keys=launch_keys,
        order_container_id=container_id,
        meta_data=meta_data,
    )
    run_context = rules.Context(
        url=clean["url"],
        mode=clean["mode"],
        full_height=bool(frame["fullHeight"]),
        payment_url_prefix=settings.payment_url_prefix,
        order_container_id=container_id,
        probe=probe,
    ).to_json()
    response = _form_page(request, raw, {}, frame=frame, run_context=run_context)
    # Any http(s) frame, not only the URL's origin: a mini-app that redirects elsewhere must
    # load, so that the verdict can say its messages come from a foreign origin (the bridge
    # still accepts messages from `origin` only). The playground is a sandbox tool.
    policy = web_headers.content_security_policy(
        frame_sources=["http:", "https:"], image_sources=web_headers.PAGE_IMAGE_SOURCES
    )
    response.headers.update(web_headers.html_headers(policy))
    return response


async def _run_body(request: Request) -> tuple[rules.Context, list[Any]]:
    if not _same_origin(request):
        raise Forbidden()
    try:
        # Plain floats on purpose: a height is judged as the number the mini-app sent.
        body = json.loads(await request.body())
    except ValueError as exc:
        raise BadRequest("The body is not JSON") from exc
    return service.parse_run(body)


@router.post("/playground/evaluate")
async def evaluate(request: Request) -> Response:
    _ctx(request)
    context, log = await _run_body(request)
    lang, _ = page_locale(request)
    return JSONResponse(service.verdict_of(context, log, lang))


@router.post("/playground/runs")
async def save_run(request: Request) -> Response:
    ctx = _ctx(request)
    context, log = await _run_body(request)
    async with ctx.db.transaction() as conn:
        run_id, document = await service.save_run(conn, context=context, log=log)
    url = f"/playground/runs/{run_id}"
    lang, _ = page_locale(request)
    verdict = rules.localized(document["verdict"], lang)
    return JSONResponse(
        {"id": run_id, "url": url, "jsonUrl": f"{url}.json", "verdict": verdict},
        status_code=201,
    )


@router.get("/playground/runs/{ref}")
async def show_run(request: Request, ref: str) -> Response:
    ctx = _ctx(request)
    as_json = ref.endswith(".json")
    run_id = ref.removesuffix(".json")
    async with ctx.db.read() as conn:
        document = await service.load_run(conn, run_id)
    if document is None:
        raise NotFound()
    if as_json:
        return JSONResponse(
            document,
            headers={"Content-Disposition": f'attachment; filename="playground-run-{run_id}.json"'},
        )
    problems = document["verdict"]["problems"]
    lang = page_locale(request)[0]
    entries = [
        _entry_view(index, entry, problems, lang) for index, entry in enumerate(document["log"])
    ]
    created = datetime.fromisoformat(document["createdAt"])
    # The stored explanations are English (the JSON's language); the page speaks its own.
    run = {**document, "verdict": rules.localized(document["verdict"], lang)}
    return _render(
        request, "playground/run.html", {"run": run, "entries": entries, "created": created}
    )


def _entry_view(
    index: int, entry: Any, problems: dict[str, list[str]], lang: str
) -> dict[str, Any]:
    """One stored log entry with every field the run page shows (stored logs are untrusted)."""
    raw = entry if isinstance(entry, dict) else {"kind": "?", "payload": entry}
    action = raw.get("action")
    return {
        "index": index,
        "t": raw.get("t", ""),
        "kind": str(raw.get("kind") or ""),
        "origin": str(raw.get("origin") or ""),
        "action": None if action is None else str(action),
        "message": note_text(raw, lang),
        "data_text": _data_text(raw),
        "problems": problems.get(str(index), []),
    }


def _data_text(entry: Any) -> str:
    payload = entry.get("payload") if isinstance(entry, dict) else entry
    return "" if payload is None else json.dumps(payload, ensure_ascii=False)
