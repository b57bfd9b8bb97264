"""Dependencies point one way: routes -> service -> repository -> storage (STYLE.md §2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "marketbox"
WEB_FRAMEWORKS = ("fastapi", "starlette")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


SERVICES = sorted(SRC.glob("*/service.py")) + sorted(SRC.glob("*/repository.py"))


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_services_and_repositories_do_not_import_the_web_framework(path: Path) -> None:
    offending = {m for m in imports_of(path) if m.split(".")[0] in WEB_FRAMEWORKS}
    assert offending == set()


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_services_and_repositories_do_not_import_the_web_layer(path: Path) -> None:
    # List queries come from storage.query; web.filters only parses them from HTTP.
    offending = {
        m for m in imports_of(path) if m == "marketbox.web" or m.startswith("marketbox.web.")
    }
    assert offending == set()


# Packages that are the web layer themselves (pages, HTTP plumbing) or drive it (the CLI).
WEB_PACKAGES = ("web", "payment_page", "cli")
EDGES = ("routes.py", "views.py")
DOMAIN_MODULES = sorted(
    p
    for p in SRC.glob("*/**/*.py")
    if p.relative_to(SRC).parts[0] not in WEB_PACKAGES and p.name not in EDGES
)


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_only_routes_and_views_of_a_domain_package_touch_the_web(path: Path) -> None:
    offending = {
        m
        for m in imports_of(path)
        if m.split(".")[0] in WEB_FRAMEWORKS
        or m == "marketbox.web"
        or m.startswith("marketbox.web.")
    }
    assert offending == set()


ROUTES = sorted(SRC.glob("*/routes.py"))


@pytest.mark.parametrize("path", ROUTES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_routes_build_no_sql(path: Path) -> None:
    offending = {m for m in imports_of(path) if m.split(".")[0] == "sqlalchemy"}
    assert offending == set()


def test_only_config_reads_the_environment() -> None:
    readers = [
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if p != SRC / "config.py" and _reads_environment(p.read_text(encoding="utf-8"))
    ]
    assert readers == []


def _reads_environment(source: str) -> bool:
    return "os.environ" in source or "getenv(" in source


# The neutral modules and storage: they serve every domain and know none. `storage/schema.py`
# gathers every domain's tables for Alembic (and the migrations read it); nothing else may.
NEUTRAL_MODULES = [
    *(SRC / name for name in ("parsing.py", "money.py", "jsonutil.py", "ids.py", "clock.py")),
    *(SRC / name for name in ("errors.py", "netguard.py", "requisites.py", "config.py")),
    *sorted(p for p in (SRC / "storage").glob("*.py") if p.name != "schema.py"),
]
NEUTRAL = {"marketbox", "storage", "parsing", "money", "jsonutil", "ids", "clock", "errors"}
NEUTRAL |= {"netguard", "requisites", "config", "toolkit"}


@pytest.mark.parametrize("path", NEUTRAL_MODULES, ids=lambda p: p.relative_to(SRC).as_posix())
def test_the_toolkit_and_storage_know_no_domain(path: Path) -> None:
    offending = {
        m
        for m in imports_of(path)
        if m.startswith("marketbox") and m.split(".")[1:2] and m.split(".")[1] not in NEUTRAL
    }
    assert offending == set()


TOOLKIT = sorted((SRC / "toolkit").glob("*.py"))
# What the toolkit may lean on inside marketbox: itself, the money rules and the clock.
TOOLKIT_ALLOWED = ("marketbox.toolkit", "marketbox.money", "marketbox.clock")


@pytest.mark.parametrize("path", TOOLKIT, ids=lambda p: p.name)
def test_the_toolkit_imports_no_domain_package_and_no_web_framework(path: Path) -> None:
    offending = {
        m
        for m in imports_of(path)
        if m.split(".")[0] in (*WEB_FRAMEWORKS, "sqlalchemy")
        or (
            m.startswith("marketbox")
            and not any(m == a or m.startswith(f"{a}.") for a in TOOLKIT_ALLOWED)
        )
    }
    assert offending == set()


# The outbox and delivery carry bodies they are handed: what a notification says about an order
# is the orders domain's (orders/notices.py), so they import no domain package. (The
# dispatcher records a shop's `shipping_unavailable` reply through the orders service.)
DELIVERY = [SRC / "notifications" / "outbox.py", SRC / "notifications" / "delivery.py"]
DOMAINS = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
DOMAINS -= NEUTRAL | {"notifications", "security", "web"}


@pytest.mark.parametrize("path", DELIVERY, ids=lambda p: p.name)
def test_the_outbox_and_delivery_know_no_domain(path: Path) -> None:
    offending = {m for m in imports_of(path) if m.split(".")[1:2] and m.split(".")[1] in DOMAINS}
    assert offending == set()
