"""The API over HTTP as an attacker, guard rails: safe risk defaults, secret custody, the
auth-failure limit behind a proxy and HTTP hardening (docs/security.md lists each threat and the
test that proves its defence). Three routers (conftest.py), each on a database of its own:

- ``attacked``: the safe defaults as shipped (price band, slippage, order notional);
- ``untrusting``: no trusted proxy, a small auth-failure allowance and a small concurrency limit;
- ``guarded``: as an operator behind a TLS-terminating proxy would run it: the key from a file
  as raw hex, ``/docs`` off, 127.0.0.1 trusted as the proxy, and risk limits required (testnet
  and mainnet behaviour) so that it starts REDUCE_ONLY.
"""

from __future__ import annotations

import resource
import socket
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.security_kit import (
    AUTH_BURST,
    MAX_CONCURRENCY,
    anonymous,
    new_key,
    refused,
)
from tests.router.e2e.test_orders import oracle, place

pytestmark = pytest.mark.e2e


# --- 5. safe defaults ----------------------------------------------------------------------------
def test_a_fresh_install_has_guard_rails_an_operator_may_widen(attacked: RouterProcess) -> None:
    trader = new_key(attacked, ["read", "trade"])
    absurd = {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.001",
        "price": "10000000",
    }
    with attacked.client(trader) as c, attacked.client() as admin:
        btc = oracle(c, "BTC-USD")
        body = refused(place(c, absurd), 400, "risk_price_band_bps")
        assert body["error"]["details"]["scope"] == "default"
        market = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        refused(place(c, market | {"max_slippage_bps": 1000}), 400, "risk_max_slippage_bps")
        big = str((Decimal(150_000) / btc).quantize(Decimal("0.001")))
        refused(place(c, market | {"size": big}), 400, "risk_max_order_notional")
        policy = admin.get("/v1/admin/risk-limits").json()
        assert policy["defaults"]["price_band_bps"] == 1000 and not policy["configured"]
        try:
            # The operator widens the band: the absurd price now passes the gate (the chain
            # then takes or refuses it like any other order).
            widened = admin.put("/v1/admin/risk-limits/global", json={"price_band_bps": 10_000})
            assert widened.status_code == 200, widened.text
            far = str((btc * Decimal("1.5")).quantize(Decimal(1)))  # 5,000 bps away
            dry = c.post("/v1/orders", params={"dry_run": "true"}, json=absurd | {"price": far})
            assert dry.status_code == 200, dry.text
        finally:
            admin.put("/v1/admin/risk-limits/global", json={})
        refused(place(c, absurd), 400, "risk_price_band_bps")  # null again: the default


def test_a_conditional_market_order_is_held_to_the_band_and_the_slippage(
    attacked: RouterProcess,
) -> None:
    # The review of issue 14: a take-profit buy far above the oracle triggers at once, a market
    # buy capped only at its trigger + 1% (201 at 9,090,000, then FILLED, with BTC at ~29,000).
    tp = {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "TAKE_PROFIT_MARKET",
        "size": "0.001",
        "trigger_price": "9000000",
        "max_slippage_bps": 100,
    }
    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as c:
        body = refused(place(c, tp), 400, "risk_price_band_bps")
        assert body["error"]["details"]["trigger_price"] == "9000000"
        assert body["error"]["details"]["scope"] == "default"

        def dry_run(order: dict[str, Any]) -> httpx.Response:
            return c.post("/v1/orders", params={"dry_run": "true"}, json=order)

        refused(dry_run(tp | {"side": "SELL", "trigger_price": "1"}), 400, "risk_price_band_bps")
        btc = oracle(c, "BTC-USD")
        # Crossed, in the band, but its worst price is ~6% above the oracle: more than 5%.
        near = str((btc * Decimal("1.05")).quantize(Decimal(1)))
        refused(dry_run(tp | {"trigger_price": near}), 400, "risk_max_slippage_bps")
        # A stop-loss half-way below the market is not crossed: it executes around its trigger.
        half = str((btc / 2).quantize(Decimal(1)))
        stop = tp | {"side": "SELL", "type": "STOP_MARKET", "trigger_price": half}
        assert dry_run(stop).status_code == 200, dry_run(stop).text


def test_on_a_real_network_trading_waits_for_explicit_limits(guarded: RouterProcess) -> None:
    order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
    with guarded.client() as admin:
        state = admin.get("/v1/admin/trading-state").json()
        assert state["state"] == "REDUCE_ONLY" and "risk limits not set" in state["reason"]
        refused(place(admin, order), 409, "trading_reduce_only")
        assert admin.put("/v1/admin/risk-limits/global", json={}).status_code == 200
        assert admin.get("/v1/admin/trading-state").json()["state"] == "ACTIVE"
        # The key came from a file as raw hex: the order is signed and accepted by the chain.
        resp = place(admin, order)
        assert resp.status_code == 201, resp.text
        assert resp.json()["chain"]["owner"] == guarded.address


# --- 7. secret custody ----------------------------------------------------------------------------
def test_the_serving_process_writes_no_core_dump(guarded: RouterProcess) -> None:
    # custody.disable_core_dumps is called by the serve path itself (cli/common.py), before the
    # key is read: the running router's core limit is 0 (a core file would hold the key).
    assert resource.prlimit(guarded.process.pid, resource.RLIMIT_CORE) == (0, 0)
    # The key came from a file: the process's initial environment names the file, not the key.
    environ = Path(f"/proc/{guarded.process.pid}/environ").read_bytes().split(b"\0")
    names = {e.split(b"=", 1)[0] for e in environ}
    assert b"DYDX_ROUTER_PRIVATE_KEY_HEX_FILE" in names
    assert not names & {b"DYDX_ROUTER_MNEMONIC", b"DYDX_ROUTER_PRIVATE_KEY_HEX"}


# --- 6. auth failures behind a proxy -------------------------------------------------------------
def test_a_forged_forwarded_for_does_not_escape_the_auth_failure_limit(
    untrusting: RouterProcess,
) -> None:
    with anonymous(untrusting) as anon:
        statuses = [
            anon.get(
                "/v1/orders",
                headers={"Authorization": f"Bearer dxr_{i:043d}", "X-Forwarded-For": f"10.9.0.{i}"},
            ).status_code
            for i in range(AUTH_BURST + 3)
        ]
    # Not a trusted proxy: every request counts against the peer's own address.
    assert statuses[:AUTH_BURST] == [401] * AUTH_BURST and set(statuses[AUTH_BURST:]) == {429}


def test_behind_a_trusted_proxy_each_client_is_counted_apart(guarded: RouterProcess) -> None:
    with anonymous(guarded) as proxy:

        def guess(client_ip: str) -> int:
            return proxy.get(
                "/v1/orders",
                headers={"Authorization": "Bearer dxr_guess", "X-Forwarded-For": client_ip},
            ).status_code

        assert [guess("203.0.113.7") for _ in range(AUTH_BURST + 2)][-1] == 429
        assert guess("198.51.100.9") == 401  # another client behind the same proxy


# --- 10. HTTP hardening --------------------------------------------------------------------------
def test_every_response_is_not_stored_and_not_sniffed(
    attacked: RouterProcess, guarded: RouterProcess
) -> None:
    with attacked.client() as c, anonymous(attacked) as anon:
        responses = [
            c.post("/v1/admin/api-keys", json={"name": "shown-once", "scopes": ["read"]}),
            c.get("/v1/orders"),
            anon.get("/v1/orders"),
            anon.get("/health"),
            anon.get("/nowhere"),
        ]
    for resp in responses:
        assert resp.headers["cache-control"] == "no-store", resp.request.url
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in resp.headers  # plain HTTP: no HSTS
        assert "server" not in resp.headers
    with anonymous(guarded) as proxy:
        over_tls = proxy.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert over_tls.headers["strict-transport-security"].startswith("max-age=")
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert proxy.get(path).status_code == 404  # switched off on this one
    with anonymous(attacked) as anon:
        assert anon.get("/openapi.json").status_code == 200
        forged = anon.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forged.headers  # untrusted: still plain HTTP


def test_past_the_concurrency_limit_the_service_answers_503_at_once(
    untrusting: RouterProcess,
) -> None:
    # Connections held open and idle (slow clients, or an attacker's) count against
    # DYDX_ROUTER_MAX_CONCURRENCY: past it, a request is answered 503 at once rather than queued.
    host, port = untrusting.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(MAX_CONCURRENCY)]
    try:
        statuses: list[int] = []
        deadline = time.monotonic() + 5
        with anonymous(untrusting) as probe:
            while time.monotonic() < deadline and 503 not in statuses:
                statuses.append(probe.get("/health").status_code)
                time.sleep(0.05)
        assert statuses[-1] == 503, statuses  # before: no limit, every request served
    finally:
        for s in idle:
            s.close()
    with anonymous(untrusting) as probe:  # the idle ones gone, it serves again
        deadline = time.monotonic() + 5
        while (status := probe.get("/health").status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
