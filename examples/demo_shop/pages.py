"""The HTML of the shop's screens. Each is a shell whose first paint is already meaningful:

* a service page ships its skeleton (title block, three 56 px cells, a 52 px button), which
  `shop.js` replaces once the host's `init` and the catalogue have arrived;
* the success page ships the points loader «Ждём подтверждение оплаты», the fail page its
  final content; `status.js` fills in the order.

No inline scripts or styles: configuration travels in `data-` attributes, so the strict
Content-Security-Policy of app.py holds.
"""

from __future__ import annotations

import json
from html import escape

from demo_shop.catalog import Service, pick

_STRINGS = {
    "ru": {
        "loading": "Загрузка…",
        "waiting": "Ждём подтверждение оплаты",
        "fail_title": "Оплата не прошла",
        "fail_text": "Деньги не списаны. Можно попробовать ещё раз или изменить заказ.",
        "retry": "Попробовать снова",
        "change": "Изменить заказ",
        "noscript": "Для работы приложения нужен JavaScript.",
        "terms_title": "Условия услуги",
    },
    "en": {
        "loading": "Loading…",
        "waiting": "Waiting for the payment confirmation",
        "fail_title": "Payment failed",
        "fail_text": "No money was taken. You can try again or change the order.",
        "retry": "Try again",
        "change": "Change the order",
        "noscript": "This app needs JavaScript.",
        "terms_title": "Terms of service",
    },
}


def _shell(
    *, title: str, lang: str, base: str, body: str, data: dict[str, str], script: str
) -> str:
    attrs = " ".join(f'data-{k}="{escape(v)}"' for k, v in data.items())
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{base}/static/shop.css">
<script type="module" src="{base}/static/{script}"></script>
</head>
<body>
<main class="app" data-app {attrs}>
{body}
</main>
<noscript><p class="app__noscript">{_STRINGS[lang]["noscript"]}</p></noscript>
</body>
</html>
"""


def _common_data(base: str, parent_origins: list[str]) -> dict[str, str]:
    return {"base": base, "parent-origins": json.dumps(parent_origins)}


SKELETON = """<div class="skeleton-screen" data-view aria-busy="true">
  <span class="visually-hidden" role="status">{loading}</span>
  <div class="skeleton skeleton--title"></div>
  <div class="skeleton skeleton--subtitle"></div>
  <div class="skeleton skeleton--cell"></div>
  <div class="skeleton skeleton--cell"></div>
  <div class="skeleton skeleton--cell"></div>
  <div class="skeleton skeleton--button"></div>
</div>"""


def service_page(service: Service, *, base: str, parent_origins: list[str]) -> str:
    data = _common_data(base, parent_origins)
    data.update(screen="select", service=service.key)
    return _shell(
        title=pick(service.title, "ru"),
        lang="ru",
        base=base,
        body=SKELETON.format(loading=_STRINGS["ru"]["loading"]),
        data=data,
        script="shop.js",
    )


def success_page(order_id: str, *, lang: str, base: str, parent_origins: list[str]) -> str:
    s = _STRINGS[lang]
    data = _common_data(base, parent_origins)
    data.update(screen="success", order=order_id, lang=lang)
    body = f"""<div class="status" data-view aria-busy="true">
  <div class="points" role="status">
    <span class="points__dot"></span>
    <span class="points__dot"></span>
    <span class="points__dot"></span>
    <span class="points__text">{s["waiting"]}</span>
  </div>
</div>"""
    return _shell(
        title=s["waiting"], lang=lang, base=base, body=body, data=data, script="status.js"
    )


def fail_page(
    order_id: str, *, lang: str, base: str, parent_origins: list[str], change_href: str
) -> str:
    s = _STRINGS[lang]
    data = _common_data(base, parent_origins)
    data.update(screen="fail", order=order_id, lang=lang)
    body = f"""<div class="status" data-view>
  <div class="status__icon status__icon--fail" aria-hidden="true">{CROSS_ICON}</div>
  <h1 class="status__title">{s["fail_title"]}</h1>
  <p class="status__text">{s["fail_text"]}</p>
  <div class="status__actions">
    <button type="button" class="btn btn--primary" data-retry hidden>{s["retry"]}</button>
    <a class="btn btn--secondary" data-change href="{escape(change_href)}">{s["change"]}</a>
  </div>
</div>"""
    return _shell(
        title=s["fail_title"], lang=lang, base=base, body=body, data=data, script="status.js"
    )


def terms_page(*, base: str) -> str:
    s = _STRINGS["ru"]
    body = f"""<article class="terms">
  <h1>{s["terms_title"]}</h1>
  <p>Демонстрационный магазин marketbox. Услуги не оказываются, деньги не списываются:
  платформа работает в тестовом режиме.</p>
  <p>Бизнес-зал: доступ по посадочному талону на указанное время. Такси: подача за 3 часа до
  вылета, бесплатное ожидание 15 минут. Кофейня: заказ готовят к выходу на посадку.</p>
  <p>Отменить заказ можно до начала оказания услуги; деньги вернутся на карту.</p>
</article>"""
    return _shell(
        title=s["terms_title"],
        lang="ru",
        base=base,
        body=body,
        data={"screen": "terms"},
        script="common.js",
    )


CROSS_ICON = (
    '<svg width="32" height="32" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2" stroke-linecap="round"><path d="M7 7l10 10M17 7L7 17"/></svg>'
)
