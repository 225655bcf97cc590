"""The Dockerfile and compose.yaml checked against the code (no Docker engine runs here):
every variable they set is a setting, ports and health paths match the app, the entry point
is a real console command, the devnet's flags exist, the files they mount exist."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from pydantic import AliasChoices

from dydx_devnet.cli import app as devnet_app
from dydx_router.asgi import create_app
from dydx_router.cli import app as router_app
from dydx_router.config import Settings
from dydx_router.localdev import wallet_address
from dydx_router.reference.settings import env_name

ROOT = Path(__file__).resolve().parents[3]


def setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(env_name(name, field))
        if isinstance(field.validation_alias, AliasChoices):
            names |= {c for c in field.validation_alias.choices if isinstance(c, str)}
    return names


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def instructions(keyword: str, stage: int | None = -1) -> list[str]:
    """The arguments of ``keyword`` in one stage (-1: the final one; None: every stage)."""
    stages: list[list[tuple[str, str]]] = [[]]
    for kw, args in dockerfile():
        if kw == "FROM":
            stages.append([])
        stages[-1].append((kw, args))
    chosen = [i for s in stages for i in s] if stage is None else stages[stage]
    return [args for kw, args in chosen if kw == keyword]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def route_paths() -> set[str]:
    return set(create_app(Settings()).openapi()["paths"])


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instructions("ENV"):
        env.update(dict(token.split("=", 1) for token in shlex.split(args)))
    return env


def test_dockerfile_builds_a_wheel_then_a_slim_non_root_runtime() -> None:
    froms = instructions("FROM", None)
    assert len(froms) >= 2 and froms[0].endswith("AS build")
    assert "python:" in instructions("ARG", 0)[0] and "slim" in instructions("ARG", 0)[0]
    assert any("pip wheel" in r for r in instructions("RUN", 1))
    runtime_run = " ".join(instructions("RUN"))
    assert "from=build" in runtime_run and "--no-index" in runtime_run
    assert "[dev" not in runtime_run and "embedded" not in runtime_run  # runtime deps only
    user = instructions("USER")[-1].split(":")[0]
    assert user not in {"0", "root"}


def test_image_environment_is_settings_and_ports_match() -> None:
    env = image_env()
    ours = {k for k in env if not k.startswith(("PIP_", "PYTHON"))}
    assert ours <= setting_names(), ours - setting_names()
    Settings(**{k.removeprefix("DYDX_ROUTER_").lower(): v for k, v in env.items() if k in ours})
    assert instructions("EXPOSE") == [env["DYDX_ROUTER_PORT"]]


def test_healthcheck_probes_the_liveness_route() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/health" in route_paths() and "/health'" in check
    assert "DYDX_ROUTER_PORT" in check


def test_entry_point_is_a_console_command_and_its_commands_exist() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = json.loads(instructions("ENTRYPOINT")[0])
    assert entry[0] in scripts and scripts[entry[0]] == "dydx_router.cli:app"
    commands = typer.main.get_command(router_app).commands  # type: ignore[attr-defined]
    assert json.loads(instructions("CMD")[-1])[0] in commands
    for service in ("migrate", "router", "devnet"):
        assert compose()["services"][service]["command"][0] in commands


def test_stop_signal_and_grace_period_cover_the_graceful_shutdown() -> None:
    assert instructions("STOPSIGNAL") == ["SIGTERM"]
    grace = float(image_env()["DYDX_ROUTER_SHUTDOWN_GRACE_S"])
    router = compose()["services"]["router"]
    assert router["stop_signal"] == "SIGTERM"
    assert float(router["stop_grace_period"].removesuffix("s")) > grace


def test_compose_services_and_dependencies() -> None:
    services = compose()["services"]
    pg = services["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert any(v.startswith("pgdata:") for v in pg["volumes"]) and "healthcheck" in pg
    assert services["migrate"]["command"][:2] == ["migrate", "up"]
    assert services["migrate"]["restart"] == "no"
    deps = services["router"]["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["devnet"]["required"] is False  # absent unless --profile devnet
    assert services["devnet"]["profiles"] == ["devnet"]
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"]


def test_compose_router_variables_are_settings_and_load() -> None:
    services = compose()["services"]
    for name in ("migrate", "router"):
        env = services[name]["environment"]
        assert set(env) <= setting_names(), set(env) - setting_names()
    env = services["router"]["environment"]
    assert env["DYDX_ROUTER_MNEMONIC_FILE"] == "/run/secrets/dydx_mnemonic"
    assert "dydx_mnemonic" in services["router"]["secrets"]
    assert services["router"]["env_file"][0]["path"] == ".env"
    port = env["DYDX_ROUTER_PORT"]
    # Replicas publish nothing; the load balancer publishes the API port.
    assert "ports" not in services["router"] and services["router"]["expose"] == [port]
    assert any(p.endswith(f":{port}") for p in services["lb"]["ports"])
    assert f":{port}/health'" in " ".join(services["router"]["healthcheck"]["test"])


def test_the_router_runs_as_its_own_role_granted_by_the_owners_migrate_job() -> None:
    # Before: migrate and router both connected as the tables' owner (POSTGRES_USER), so the
    # audit log's REVOKE (grant-app-role) never applied and the service could drop its triggers.
    services = compose()["services"]
    pg = services["postgres"]["environment"]
    migrate_url = urlsplit(services["migrate"]["environment"]["DATABASE_URL"])
    router_url = urlsplit(services["router"]["environment"]["DATABASE_URL"])
    assert migrate_url.username == pg["POSTGRES_USER"]
    assert router_url.username == pg["POSTGRES_APP_USER"] != pg["POSTGRES_USER"]
    assert router_url.password == pg["POSTGRES_APP_PASSWORD"] != pg["POSTGRES_PASSWORD"]
    assert (router_url.hostname, router_url.path) == (migrate_url.hostname, migrate_url.path)
    # The migrate job grants that role (an option `migrate up` has).
    command = services["migrate"]["command"]
    assert command[command.index("--grant-app-role") + 1] == router_url.username
    up = typer.main.get_command(router_app).commands["migrate"].commands["up"]  # type: ignore[attr-defined]
    assert "--grant-app-role" in {o for p in up.params for o in p.opts}
    # The role is created by the postgres image's init script, from those variables.
    assert (
        "./deploy/postgres/app-role.sh:/docker-entrypoint-initdb.d/app-role.sh:ro"
        in (services["postgres"]["volumes"])
    )
    script = (ROOT / "deploy/postgres/app-role.sh").read_text()
    assert "POSTGRES_APP_USER" in script and "POSTGRES_APP_PASSWORD" in script


def _devnet_flags() -> dict[str, str]:
    cmd = compose()["services"]["devnet"]["command"]
    return {cmd[i]: cmd[i + 1] for i in range(1, len(cmd), 2)}


def test_devnet_flags_exist_and_its_ports_are_the_routers_defaults() -> None:
    devnet = typer.main.get_command(devnet_app)
    options = {o for p in devnet.params for o in p.opts}
    flags = _devnet_flags()
    assert set(flags) <= options, set(flags) - options
    env = compose()["services"]["router"]["environment"]
    assert env["DYDX_ROUTER_NODE_ENDPOINTS"].endswith(f"-devnet:{flags['--grpc-port']}}}")
    assert env["DYDX_ROUTER_INDEXER_URLS"].endswith(f"devnet:{flags['--indexer-port']}}}")
    assert f"devnet:{flags['--ws-port']}/v4/ws" in env["DYDX_ROUTER_INDEXER_WS_URLS"]
    health = " ".join(compose()["services"]["devnet"]["healthcheck"]["test"])
    assert f":{flags['--admin-port']}/devnet/status" in health


def test_devnet_funds_the_demo_key_the_router_reads() -> None:
    mnemonic = (ROOT / "deploy/devnet/demo.mnemonic").read_text().strip()
    address, _, amount = _devnet_flags()["--fund"].partition("=")
    assert address == wallet_address(mnemonic) and float(amount) > 0
    secret = compose()["secrets"]["dydx_mnemonic"]["file"]
    assert secret.endswith("./deploy/devnet/demo.mnemonic}")


def test_mounted_files_exist_and_observability_uses_the_docs() -> None:
    services = compose()["services"]
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", [])]
    for source in (m for m in mounts if m.startswith("./")):
        assert (ROOT / source).exists(), source
    assert "./docs/prometheus-alerts.yml" in mounts
    assert "./docs/grafana-dashboard.json" in mounts
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    port = services["router"]["environment"]["DYDX_ROUTER_PORT"]
    # Every replica is scraped: the service's DNS name lists them all.
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["router"] and sd["type"] == "A" and str(sd["port"]) == port
    assert job["metrics_path"] in route_paths()
    alerts = (ROOT / "docs/prometheus-alerts.yml").read_text()
    assert f'job="{job["job_name"]}"' in alerts


@pytest.mark.parametrize("ignored", [".venv", ".git", ".local", "tests"])
def test_dockerignore_keeps_the_build_context_to_the_sources(ignored: str) -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*") :] and "!src/" in lines and f"!{ignored}" not in lines
