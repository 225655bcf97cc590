"""The router scaled out the same way under compose as under ``make run REPLICAS=3``: several
replicas behind HAProxy, checked statically against the code (no Docker engine runs here), and
both HAProxy configurations checked by HAProxy itself where it is installed."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from dydx_router.asgi import create_app
from dydx_router.cli.common import proxy_options
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
    local = _directives(haproxy_config("127.0.0.1:8080", [Backend("router1", "127.0.0.1", 9001)]))
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
    local.write_text(haproxy_config("127.0.0.1:8080", backends))
    for cfg in (local, HAPROXY_CFG):
        done = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_replicas_believe_the_client_address_from_the_balancer_only() -> None:
    # Before: nothing trusted under compose, so every client behind HAProxy counted as the
    # balancer's address for the auth-failure limit (one key-guesser locked everyone out).
    svc = services()
    network = yaml.safe_load((ROOT / "compose.yaml").read_text())["networks"]["default"]
    (pool,) = network["ipam"]["config"]
    lb_address = ipaddress.ip_address(svc["lb"]["networks"]["default"]["ipv4_address"])  # type: ignore[index]
    assert lb_address in ipaddress.ip_network(pool["subnet"])
    # No other container can be handed the balancer's address, however many replicas run.
    assert lb_address not in ipaddress.ip_network(pool["ip_range"])
    env = svc["router"]["environment"]  # type: ignore[index]
    trusted = Settings(forwarded_allow_ips=env["DYDX_ROUTER_FORWARDED_ALLOW_IPS"])
    assert trusted.forwarded_allow_ips == [str(lb_address)]  # the balancer, nothing else
    assert proxy_options(trusted) == {
        "proxy_headers": True,
        "forwarded_allow_ips": [str(lb_address)],
    }
    assert "option forwardfor" in _directives(HAPROXY_CFG.read_text())


async def _echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A replica's stand-in: answers the client address it believes."""
    body = scope["client"][0].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def replica() -> Iterator[int]:
    """The stand-in, served by uvicorn with the proxy options the router serves with, trusting
    the balancer's address (here 127.0.0.1, where the local HAProxy connects from)."""
    # Our own socket: a port picked and closed beforehand could be taken by another worker.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = proxy_options(Settings(forwarded_allow_ips="127.0.0.1"))
    config = uvicorn.Config(_echo_client, lifespan="off", log_config=None, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_behind_the_compose_balancer_a_replica_sees_the_real_client(
    tmp_path: Path, replica: int
) -> None:
    # The compose balancer's own configuration, with compose's DNS discovery replaced by the
    # stand-in's local address.
    text = HAPROXY_CFG.read_text()
    # HAProxy inherits a socket we bound (fd@): no other worker's server can take its port.
    listener = socket.create_server(("127.0.0.1", 0))
    lb_port = listener.getsockname()[1]
    local = text.split("resolvers docker")[0] + "defaults" + text.split("\ndefaults", 1)[1]
    for old, new in (
        ("bind :8080", f"bind fd@{listener.fileno()}"),
        (" resolvers docker resolve-prefer ipv4 init-addr none", ""),
        ("server-template router 16 router:8080", f"server router1 127.0.0.1:{replica}"),
    ):
        assert old in local, old
        local = local.replace(old, new)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(local)
    log = (tmp_path / "haproxy.log").open("wb")
    with listener:
        lb = subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=log, pass_fds=[listener.fileno()]
        )
    # A client on another loopback address, forging the header it sends.
    transport = httpx.HTTPTransport(local_address="127.0.0.5")
    try:
        with httpx.Client(transport=transport, timeout=5) as client:
            deadline = time.monotonic() + 10
            while True:
                try:
                    resp = client.get(
                        f"http://127.0.0.1:{lb_port}/", headers={"X-Forwarded-For": "6.6.6.6"}
                    )
                    if resp.status_code == 200 or time.monotonic() > deadline:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.1)
        assert resp.status_code == 200, resp.text
        assert resp.text == "127.0.0.5"  # not the balancer's 127.0.0.1, not the forged one
    finally:
        lb.terminate()
        lb.wait(timeout=10)
        log.close()
