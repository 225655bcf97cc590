"""``make run REPLICAS=3`` (``dydx-router local run --replicas 3``): three routers on one database
and one devnet behind HAProxy. Orders placed through the balancer are served by every replica,
each is readable through any replica, each is on the chain once; a replica killed with SIGKILL is
left out by the balancer while the others keep serving; Ctrl-C stops every process it started.

Market (short-term, IOC) orders only: until one writer holds the account sequence, replicas
placing stateful orders on one account race for it (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fixtures.db import fresh_database
from tests.fixtures.router import ROOT, create_key, free_port

from dydx_router.localcluster import REPLICA_HEADER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if sys.platform != "linux":  # pragma: no cover
    pytest.skip("process groups and HAProxy from the distribution", allow_module_level=True)


@pytest.fixture
def lb_db(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, "lb") as url:
        yield url


def _read_until(
    process: subprocess.Popen[str], pattern: str, lines: list[str], within: float
) -> str:
    deadline = time.monotonic() + within
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"local run ended early:\n{''.join(lines)}")
        lines.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no {pattern!r} within {within} s:\n{''.join(lines)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(180)
def test_three_replicas_behind_haproxy(lb_db: str, tmp_path: Path) -> None:
    if subprocess.run(["which", "haproxy"], capture_output=True, check=False).returncode != 0:
        pytest.skip("haproxy is not installed (apt-get install -y haproxy)")
    admin_port = free_port()
    devnet_args = (
        f"--grpc-port 0 --rpc-port 0 --indexer-port {free_port()} --ws-port {free_port()} "
        f"--admin-port {admin_port} --block-time 0.2"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update(
        DATABASE_URL=lb_db,
        DYDX_ROUTER_LOCAL_DIR=str(tmp_path),
        # 0: the cluster binds the balancer's port itself and prints the one it got.
        DYDX_ROUTER_PORT="0",
        DYDX_ROUTER_LOG_FORMAT="json",
        DEVNET_ARGS=devnet_args,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "dydx_router.cli", "local", "run", "--replicas", "3"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    clients: list[httpx.Client] = []
    try:
        _read_until(process, r"^API key:", lines, within=120)
        out = "".join(lines)
        pids = {m[0]: int(m[1]) for m in re.findall(r"^(router\d|haproxy): pid (\d+)", out, re.M)}
        assert set(pids) == {"router1", "router2", "router3", "haproxy"}, out
        api = re.search(r"^API URL: http://127\.0\.0\.1:(\d+)$", out, re.M)
        assert api is not None and api.group(1) != "0", out
        lb_port = int(api.group(1))
        wallet = re.search(r"^Wallet: (\S+)", out, re.M)
        assert wallet is not None
        _, key = asyncio.run(create_key(lb_db, {"read", "trade"}))
        lb = httpx.Client(
            base_url=f"http://127.0.0.1:{lb_port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        clients.append(lb)
        size = next(
            m["min_order_size"] for m in lb.get("/v1/markets").json()["markets"]
            if m["market"] == "BTC-USD"
        )  # fmt: skip
        order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": size}

        def place(n: int) -> list[tuple[str, str]]:
            placed = []
            for i in range(n):
                body = {**order, "side": "BUY" if i % 2 else "SELL"}
                resp = _place_as_a_careful_client(lb, body)
                assert resp.status_code in (200, 201, 202), resp.text
                placed.append((resp.json()["id"], resp.headers[REPLICA_HEADER]))
            return placed

        first = place(9)
        served = Counter(replica for _, replica in first)
        assert set(served) == {"router1", "router2", "router3"}, served
        # One database: each order is readable through whichever replica answers.
        readers = set()
        for order_id, _ in first:
            resp = lb.get(f"/v1/orders/{order_id}")
            assert resp.status_code == 200, resp.text
            readers.add(resp.headers[REPLICA_HEADER])
        assert len(readers) == 3

        # A replica dies: the balancer leaves it out, no order fails.
        os.killpg(pids["router2"], signal.SIGKILL)
        killed_at = time.monotonic()
        second = place(9)
        assert {replica for _, replica in second} <= {"router1", "router3"}
        _read_until(process, r"^router2 exited", lines, within=10)
        assert process.poll() is None

        # One devnet: every order on the chain once, from the one wallet.
        orders = httpx.get(
            f"http://127.0.0.1:{admin_port}/devnet/orders", params={"owner": wallet.group(1)}
        ).json()["orders"]
        client_ids = Counter(o["clientId"] for o in orders)
        stored = [lb.get(f"/v1/orders/{i}").json() for i, _ in first + second]
        assert sorted(o["chain"]["client_id"] for o in stored) == sorted(client_ids)
        assert max(client_ids.values()) == 1
        print(
            f"\n[lb] served by {dict(served)}; after SIGKILL of router2, 9 of 9 placed, by "
            f"{dict(Counter(r for _, r in second))}; router2 reported gone after "
            f"{time.monotonic() - killed_at:.2f} s"
        )
    finally:
        for c in clients:
            c.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            assert process.stdout is not None
            process.stdout.close()
    left = [name for name, pid in pids.items() if _alive(pid)]
    assert left == [], left


def _place_as_a_careful_client(lb: httpx.Client, body: dict[str, str]) -> httpx.Response:
    """Place with an Idempotency-Key and re-send on a cut connection or while the first attempt
    is in flight, as docs/orders.md tells clients to: a request the balancer had sent to the
    replica being killed is cut (HAProxy re-sends only what never reached a server), and its
    re-send is answered by a live replica, never placed twice (asserted against the chain)."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    deadline = time.monotonic() + 60
    while True:
        try:
            resp = lb.post("/v1/orders", json=body, headers=headers)
        except httpx.TransportError:
            resp = None
        in_flight = resp is not None and "idempotency_in_flight" in resp.text
        if resp is not None and not in_flight:
            return resp
        assert time.monotonic() < deadline, resp.text if resp is not None else "cut"
        time.sleep(0.5)


def test_without_haproxy_it_says_how_to_install_it_and_starts_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update(PATH=str(tmp_path), DYDX_ROUTER_LOCAL_DIR=str(tmp_path / "local"))
    done = subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "local", "run", "--replicas", "3"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "apt-get install -y haproxy" in done.stderr
    # Checked before anything starts: no database, no devnet.
    assert not (tmp_path / "local").exists() or not any((tmp_path / "local").iterdir())
