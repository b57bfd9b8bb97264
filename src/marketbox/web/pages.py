"""The footer's pages: terms, privacy, help. An operator replaces their text for production;
in the sandbox they say plainly what this installation is."""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from marketbox.toolkit.formatting import register_filters
from marketbox.toolkit.i18n import N_, normalize_locale, register_i18n, t
from marketbox.web import assets

router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    auto_reload=False,  # no stat() per render: templates change with the code (a restart)
)
register_filters(_env)
register_i18n(_env)
assets.register(_env)

# The pages' title and text ("info.<page>.title", "info.<page>.text", paragraphs separated by
# a blank line) are in the gettext catalogue; named here for `pybabel extract`.
_PAGES: dict[str, tuple[str, str]] = {
    "offer": (N_("info.offer.title"), N_("info.offer.text")),
    "privacy": (N_("info.privacy.title"), N_("info.privacy.text")),
    "help": (N_("info.help.title"), N_("info.help.text")),
}


def _render(request: Request, page: str) -> HTMLResponse:
    lang = normalize_locale(request.query_params.get("lang"))
    title_key, text_key = _PAGES[page]
    title, paragraphs = t(title_key, lang), tuple(t(text_key, lang).split("\n\n"))
    html = _env.get_template("info.html").render(
        lang=lang, title=title, paragraphs=paragraphs, main_class="page page--narrow"
    )
    return HTMLResponse(html)


@router.get("/legal/offer")
async def offer(request: Request) -> HTMLResponse:
    return _render(request, "offer")


@router.get("/legal/privacy")
async def privacy(request: Request) -> HTMLResponse:
    return _render(request, "privacy")


@router.get("/help")
async def help_page(request: Request) -> HTMLResponse:
    return _render(request, "help")
