"""docs/deploy.md and deploy/ cannot be run here (no container images), so everything in them
that the code decides is checked against the code: the commands parse, the variables exist
and validate, the health checks probe routes that exist, the ports agree, and the proxy keeps
the operations endpoints inside."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from marketbox.cli.main import build_parser
from marketbox.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deploy.md"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
MARKETBOX_SERVICES = [n for n, s in SERVICES.items() if s.get("image") == "marketbox:latest"]
# What an operator exports before `docker compose up` (docs/deploy.md "The compose file").
EXPORTED = {
    "POSTGRES_PASSWORD": "pw",
    "MARKETBOX_SESSION_SECRET": "s" * 32,
    "MARKETBOX_METRICS_TOKEN": "t" * 24,
    "MARKETBOX_PUBLIC_URL": "https://pay.example.com",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with EXPORTED as the shell."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in EXPORTED:
            return EXPORTED[name]
        assert ":?" not in match.group(0), f"{name} is required: add it to EXPORTED"
        return default or ""

    return _VARIABLE.sub(one, value)


def command_of(service: str) -> list[str]:
    return [interpolate(str(word)) for word in SERVICES[service]["command"]]


def environment_of(service: str) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in SERVICES[service]["environment"].items()}


def healthcheck_url(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    (url,) = re.findall(r"http://[^'\" ]+", " ".join(test))
    return url


def test_the_guide_exists_and_stands_alone() -> None:
    text = DOC.read_text(encoding="utf-8")
    for topic in (
        "## Topology",
        "## What must never run twice",
        "## Health checks",
        "## Metrics",
        "## The compose file",
        "## How it scales further",
        "read replica",
        "Partitioning by time",
        "Outbox clean-up",
        "PROMETHEUS_MULTIPROC_DIR",
        "marketbox migrate",
    ):
        assert topic.lower() in text.lower(), topic
    assert "../shared" not in text and "spec/" not in text


def test_every_variable_the_guide_names_is_a_setting() -> None:
    text = DOC.read_text(encoding="utf-8") + (DEPLOY / "compose.yaml").read_text()
    named = set(re.findall(r"MARKETBOX_[A-Z_]+[A-Z]", text))
    fields = {f"MARKETBOX_{name.upper()}" for name in Settings.model_fields}
    assert named - fields == set()


@pytest.mark.parametrize("service", MARKETBOX_SERVICES)
def test_each_service_runs_a_command_that_parses(service: str) -> None:
    args = build_parser().parse_args(command_of(service))
    assert (
        args.handler.__name__
        == {
            "migrate": "cmd_migrate",
            "api": "cmd_serve",
            "dispatcher": "cmd_worker",
        }[service]
    )


@pytest.mark.parametrize("service", MARKETBOX_SERVICES)
def test_each_service_environment_is_a_valid_configuration(service: str) -> None:
    environment = environment_of(service)
    values = {
        key.removeprefix("MARKETBOX_").lower(): value
        for key, value in environment.items()
        if key.startswith("MARKETBOX_")
    }
    assert set(values) <= set(Settings.model_fields)
    settings = Settings(**values)  # production's rules (secrets, the token) hold
    assert settings.mode == "production"
    assert settings.metrics_enabled and settings.metrics_token
    assert settings.log_format == "json"
    assert settings.redis_url and not settings.is_sqlite


def test_the_api_serves_several_processes_without_a_dispatcher_and_probes_readyz() -> None:
    args = build_parser().parse_args(command_of("api"))
    assert args.no_worker and args.workers >= 2 and args.host == "0.0.0.0"
    url = urlsplit(healthcheck_url("api"))
    assert (url.port, url.path) == (args.port, "/readyz")
    directory = environment_of("api")["PROMETHEUS_MULTIPROC_DIR"]
    assert any(str(mount).startswith(directory) for mount in SERVICES["api"]["tmpfs"])
    assert {"migrate", "postgres", "redis"} <= set(SERVICES["api"]["depends_on"])


def test_the_probed_routes_exist() -> None:
    from fastapi.routing import iter_route_contexts

    from marketbox.app import create_app

    app = create_app(Settings(database_url="sqlite+aiosqlite:///unused.db"), migrate=False)
    paths = {route.path for route in iter_route_contexts(app.routes)}
    assert {"/healthz", "/readyz", "/metrics"} <= paths


def test_the_dispatchers_expose_metrics_where_they_are_probed_and_scraped() -> None:
    args = build_parser().parse_args(command_of("dispatcher"))
    assert args.metrics_host == "0.0.0.0"
    url = urlsplit(healthcheck_url("dispatcher"))
    assert (url.port, url.path) == (args.metrics_port, "/healthz")
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    api_port = build_parser().parse_args(command_of("api")).port
    for job, name, port in (
        ("marketbox-api", "api", api_port),
        ("marketbox-dispatcher", "dispatcher", args.metrics_port),
    ):
        (found,) = jobs[job]["dns_sd_configs"]
        assert (found["names"], found["port"]) == ([name], port)
        credentials = jobs[job]["authorization"]["credentials_file"]
        assert credentials == "/run/secrets/metrics_token"
    assert "metrics_token" in SERVICES["prometheus"]["secrets"]


def test_the_proxy_forwards_to_the_api_port_and_keeps_operations_inside() -> None:
    config = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    api_port = build_parser().parse_args(command_of("api")).port
    assert re.search(rf"server api:{api_port} resolve;", config)
    for path in ("/metrics", "/readyz"):
        assert re.search(rf"location = {path} \{{ return 404; \}}", config), path
    mounted = [v for v in SERVICES["proxy"]["volumes"] if v.startswith("./nginx.conf:")]
    assert mounted


def test_the_image_runs_the_marketbox_command() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["marketbox"]' in dockerfile
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.M)
    build_parser().parse_args(yaml.safe_load(cmd))
    assert "useradd --system --uid 10001" in dockerfile  # the tmpfs belongs to this uid
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'marketbox = "marketbox.cli.main:main"' in pyproject
    assert '"prometheus-client' in pyproject  # a dependency of the package
