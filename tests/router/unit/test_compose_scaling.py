"""The router scaled out the same way under compose as under ``make run REPLICAS=3``: several
replicas behind HAProxy, checked statically against the code (no Docker engine runs here), and
both HAProxy configurations checked by HAProxy itself where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dydx_router.asgi import create_app
from dydx_router.config import Settings
from dydx_router.localcluster import REPLICA_HEADER, Backend, haproxy_config

ROOT = Path(__file__).resolve().parents[3]
HAPROXY_CFG = ROOT / "deploy/haproxy/haproxy.cfg"


def services() -> dict[str, dict[str, object]]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]  # type: ignore[no-any-return]


def _directives(text: str) -> list[str]:
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_compose_runs_several_replicas_behind_haproxy() -> None:
    svc = services()
    router, lb = svc["router"], svc["lb"]
    replicas = router["deploy"]["replicas"]  # type: ignore[index]
    assert replicas >= 2
    assert str(lb["image"]).startswith("haproxy:")
    mount = f"./{HAPROXY_CFG.relative_to(ROOT)}:/usr/local/etc/haproxy/haproxy.cfg:ro"
    assert lb["volumes"] == [mount]
    assert lb["depends_on"] == {"router": {"condition": "service_healthy"}}
    # No static 1/N share of the chain's block rate: the replicas share it through PostgreSQL
    # (a static share under the shared counts would leave stateful orders floor(2/3) = 0).
    env = router["environment"]  # type: ignore[index]
    assert "DYDX_ROUTER_CHAIN_RATE_LIMIT_SHARE" not in env


def test_the_compose_balancer_reaches_every_replica_on_its_port_and_health_route() -> None:
    svc = services()
    port = svc["router"]["environment"]["DYDX_ROUTER_PORT"]  # type: ignore[index]
    lines = _directives(HAPROXY_CFG.read_text())
    (template,) = [line for line in lines if line.startswith("server-template ")]
    _, _, slots, target = template.split()
    assert target == f"router:{port}"
    assert int(slots) >= svc["router"]["deploy"]["replicas"]  # type: ignore[index]
    assert f"bind :{port}" in lines
    assert any(p.endswith(f":{port}") for p in svc["lb"]["ports"])  # type: ignore[union-attr]
    (check,) = [line for line in lines if line.startswith("option httpchk ")]
    assert check.split()[-1] in create_app(Settings()).openapi()["paths"]
    assert f"http-response set-header {REPLICA_HEADER} %s" in lines
    # Only requests no replica received are re-sent: no order placed twice by the balancer.
    assert "retry-on conn-failure" in lines


def test_local_and_compose_balancers_follow_the_same_rules() -> None:
    local = _directives(haproxy_config("127.0.0.1", 8080, [Backend("router1", "127.0.0.1", 9001)]))
    compose = _directives(HAPROXY_CFG.read_text())
    for rule in (
        "balance roundrobin",
        "option httpchk GET /health",
        "http-check expect status 200",
        "retry-on conn-failure",
        "option forwardfor",
        "timeout tunnel 1h",
        f"http-response set-header {REPLICA_HEADER} %s",
    ):
        assert rule in local and rule in compose, rule


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_accepts_both_configurations(tmp_path: Path) -> None:
    backends = [Backend(f"router{i}", "127.0.0.1", 9000 + i) for i in range(1, 4)]
    local = tmp_path / "haproxy.cfg"
    local.write_text(haproxy_config("127.0.0.1", 8080, backends))
    for cfg in (local, HAPROXY_CFG):
        done = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
