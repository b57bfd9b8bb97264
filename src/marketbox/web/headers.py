"""Security headers of every answer (docs/api.md "Security headers").

    every response     X-Content-Type-Options: nosniff
    every HTML page    Content-Security-Policy (with frame-ancestors), Referrer-Policy

A page that needs more than the default policy (the payment page frames its add-ons' mini-apps,
the point-of-sale page frames the shop's mini-app) builds its own with `content_security_policy`
and sends `html_headers(...)`; `SecurityHeadersMiddleware` (web/middleware.py) fills in the
defaults for everything else, HTML 404 and error pages included, and never overrides a header
a page set itself.

Framing: our pages may be framed by our own origin only ('self'). The payment page alone may
also be framed by the origins the operator lists in MARKETBOX_EXTRA_FRAME_ANCESTORS.
"""

from __future__ import annotations

from collections.abc import Iterable

REFERRER_POLICY = "same-origin"
NOSNIFF = "nosniff"


def content_security_policy(
    *,
    frame_ancestors: Iterable[str] = (),
    frame_sources: Iterable[str] = (),
    image_sources: Iterable[str] = (),
    connect_sources: Iterable[str] = (),
) -> str:
    """A strict policy: our own scripts, styles and connections only, no inline code, no
    plugins, no <base>; `frame_ancestors`, `frame_sources`, `image_sources` and
    `connect_sources` are added to 'self' in their directives."""
    ancestors = _sources(frame_ancestors)
    frames = _sources(frame_sources)
    images = _sources(image_sources)
    connections = _sources(connect_sources)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src {connections}; frame-src {frames}; "
        f"frame-ancestors {ancestors}; "
        "base-uri 'none'; object-src 'none'"
    )


def html_headers(policy: str) -> dict[str, str]:
    """The headers every HTML page carries, with this page's policy."""
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": REFERRER_POLICY,
        "X-Content-Type-Options": NOSNIFF,
    }


def _sources(extra: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(["'self'", *extra]))


# Shop logos and offer images on our pages come from the shops' own sites.
PAGE_IMAGE_SOURCES = ("data:", "https:", "http:")
# Pages that set no policy of their own: the info pages, the marketplace's lists and forms,
# HTML 404s.
DEFAULT_PAGE_POLICY = content_security_policy(image_sources=PAGE_IMAGE_SOURCES)
