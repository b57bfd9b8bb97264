"""The `miniApp` extension of a point of sale: validation and the add-on rule.

    "miniApp": {
      "url": "https://lounge.example/app",           required, http(s); https in production
      "origins": ["https://lounge.example"],          exact origins the frame may talk from;
                                                      default: [origin of url]
      "modes": ["order", "suborder"],                 default ["order"]
      "addonRule": {"any": [{"key": "iataCode",       when the add-on (suborder) is offered;
                             "values": ["SVO"]}]}     null = for every invoice
    }

An add-on rule is a small boolean tree over the invoice's metadata (`private.metaData`, see
`addons.container_meta_data`), whose leaves use the mini-app SDK's own search
(spec/miniapps.md §5) so the platform offers an add-on exactly when the mini-app itself would
find what it looks for:

    {"key": K, "values": [V, ...]}   matchMetaDataValues(K, [V, ...]): some property named K,
                                     at any depth, deep-equals one of the values
    {"key": K}                       some property named K exists at any depth
    {"any": [R, ...]}                at least one sub-rule holds
    {"all": [R, ...]}                every sub-rule holds
    {"not": R}                       the sub-rule does not hold
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from marketbox import netguard
from marketbox.errors import FieldError, ValidationFailed
from marketbox.marketplace import schemas
from marketbox.miniapp_host import protocol

MAX_RULE_DEPTH = 6
MAX_RULE_NODES = 100
MAX_RULE_VALUES = 100
MAX_RULE_KEY = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(value: str) -> str | None:
    """``scheme://host[:port]`` as a browser writes ``event.origin``, or None if `value` is no
    http(s) origin (a path, query, fragment or credentials make it a URL, not an origin)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value:
        return None
    host = parts.hostname
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{suffix}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    origin = canonical_origin(f"{parts.scheme}://{parts.netloc}")
    if origin is None:
        raise ValueError(f"not an http(s) URL: {url}")
    return origin


def clean_mini_app(
    value: schemas.MiniApp, *, require_https: bool, name: str = "miniApp"
) -> dict[str, Any]:
    """The stored form of a mini-app, or ValidationFailed with every problem found."""
    errors: list[FieldError] = []
    url = value.url
    if require_https and urlsplit(url).scheme != "https":
        errors.append(FieldError(f"{name}.url", "wrong_value", "must be https in production"))
    if value.origins is None:
        origins = [origin_of(url)]
    else:
        origins = []
        for i, raw in enumerate(value.origins):
            canonical = canonical_origin(raw)
            if canonical is None:
                errors.append(
                    FieldError(
                        f"{name}.origins[{i}]",
                        "wrong_value",
                        "must be an origin: scheme://host[:port], no path",
                    )
                )
            elif canonical != raw:
                errors.append(
                    FieldError(
                        f"{name}.origins[{i}]", "wrong_value", f"write it exactly as {canonical}"
                    )
                )
            elif require_https and not canonical.startswith("https://"):
                errors.append(
                    FieldError(f"{name}.origins[{i}]", "wrong_value", "must be https in production")
                )
            elif canonical in origins:
                errors.append(FieldError(f"{name}.origins[{i}]", "wrong_value", "duplicate"))
            else:
                origins.append(canonical)
    modes = list(value.modes or ["order"])
    if len(set(modes)) != len(modes):
        errors.append(FieldError(f"{name}.modes", "wrong_value", "duplicate mode"))
    rule = value.addonRule
    if rule is not None:
        if "suborder" not in modes:
            errors.append(
                FieldError(f"{name}.addonRule", "wrong_value", "needs the suborder mode in modes")
            )
        errors.extend(check_rule(rule, f"{name}.addonRule"))
    if errors:
        raise ValidationFailed("Invalid miniApp", fields=errors)
    ordered_modes = [m for m in schemas.MINIAPP_MODES if m in modes]
    return {"url": url, "origins": origins, "modes": ordered_modes, "addonRule": rule}


async def check_public_url(request: schemas._ShopFields, values: dict[str, Any]) -> None:
    """Production: refuse a mini-app URL that leads to a private network (netguard.py).

    `values` are the point of sale's new column values; the error names the field the
    request used (`miniApp.url` or the flat `miniAppUrl`).
    """
    mini_app = values.get("mini_app")
    if mini_app is None:
        return
    field = "miniApp.url" if "miniApp" in request.model_fields_set else "miniAppUrl"
    await netguard.check_url(mini_app["url"], field=field)


def check_rule(rule: object, name: str) -> list[FieldError]:
    """Every structural problem of an add-on rule, as field errors."""
    errors: list[FieldError] = []
    nodes = 0

    def visit(node: object, path: str, depth: int) -> None:
        nonlocal nodes
        nodes += 1
        if depth > MAX_RULE_DEPTH:
            errors.append(FieldError(path, "wrong_value", f"nested deeper than {MAX_RULE_DEPTH}"))
            return
        if not isinstance(node, dict):
            errors.append(FieldError(path, "wrong_value", "a rule must be an object"))
            return
        keys = set(node)
        if keys in ({"any"}, {"all"}):
            (op,) = keys
            children = node[op]
            if not isinstance(children, list) or not children:
                errors.append(FieldError(f"{path}.{op}", "wrong_value", "a non-empty array"))
                return
            for i, child in enumerate(children):
                visit(child, f"{path}.{op}[{i}]", depth + 1)
        elif keys == {"not"}:
            visit(node["not"], f"{path}.not", depth + 1)
        elif "key" in keys and keys <= {"key", "values"}:
            key = node["key"]
            if not isinstance(key, str) or not 1 <= len(key) <= MAX_RULE_KEY:
                errors.append(
                    FieldError(f"{path}.key", "wrong_value", f"a string of 1-{MAX_RULE_KEY}")
                )
            if "values" in node:
                values = node["values"]
                if not isinstance(values, list) or not 1 <= len(values) <= MAX_RULE_VALUES:
                    errors.append(
                        FieldError(
                            f"{path}.values", "wrong_value", f"an array of 1-{MAX_RULE_VALUES}"
                        )
                    )
        else:
            errors.append(
                FieldError(
                    path,
                    "wrong_value",
                    'expected {"key", "values"}, {"key"}, {"any": [...]}, {"all": [...]} '
                    'or {"not": ...}',
                )
            )

    visit(rule, name, 1)
    if nodes > MAX_RULE_NODES:
        errors.append(FieldError(name, "wrong_value", f"more than {MAX_RULE_NODES} rule nodes"))
    return errors


def rule_matches(rule: Any, meta_data: Sequence[Any]) -> bool:
    """Whether an add-on rule holds for an invoice's metadata; no rule holds everywhere."""
    if rule is None:
        return True
    if "any" in rule:
        return any(rule_matches(child, meta_data) for child in rule["any"])
    if "all" in rule:
        return all(rule_matches(child, meta_data) for child in rule["all"])
    if "not" in rule:
        return not rule_matches(rule["not"], meta_data)
    if "values" in rule:
        return protocol.match_meta_data_values(list(meta_data), rule["key"], rule["values"])
    return bool(protocol.get_meta_data_values(list(meta_data), rule["key"]))


def frame_url_allowed(url: str, mini_app: dict[str, Any]) -> bool:
    """May the shell open `url` (e.g. a successUrl, miniapps.md §6.1) in this mini-app's frame?"""
    if not schemas.is_http_url(url):
        return False
    try:
        return origin_of(url) in mini_app.get("origins", ())
    except ValueError:
        return False


def rule_values(rule: Any, key: str) -> list[str]:
    """The values an add-on rule offers the mini-app for under `key` (``iataCode`` → the
    airports), in order, without those under ``not``."""
    if not isinstance(rule, dict):
        return []
    found: dict[str, None] = {}
    for child in rule.get("any", ()) or rule.get("all", ()):
        found.update(dict.fromkeys(rule_values(child, key)))
    if rule.get("key") == key:
        found.update(dict.fromkeys(str(v) for v in rule.get("values", ()) if isinstance(v, str)))
    return list(found)
