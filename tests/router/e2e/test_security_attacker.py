"""The API over HTTP as an attacker: with no key, a read key, a trade key, another trader's key
and a subaccount-restricted admin key, every refusal asserted (docs/security.md lists each threat
and the test here that proves its defence).

Three routers, each on a database of its own:

- ``attacked``: the safe defaults as shipped (price band, slippage, order notional);
- ``untrusting``: no trusted proxy, a small auth-failure allowance and a small concurrency limit;
- ``guarded``: as an operator behind a TLS-terminating proxy would run it: the key from a file
  as raw hex, ``/docs`` off, 127.0.0.1 trusted as the proxy, and risk limits required (testnet
  and mainnet behaviour) so that it starts REDUCE_ONLY.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for
from tests.router.e2e.test_security import protected_routes

pytestmark = pytest.mark.e2e

SHIPPED_DEFAULTS = {
    # The fixture widens these for the other tests; here they are as shipped (config.py).
    "DYDX_ROUTER_DEFAULT_PRICE_BAND_BPS": "1000",
    "DYDX_ROUTER_DEFAULT_MAX_SLIPPAGE_BPS": "500",
    "DYDX_ROUTER_DEFAULT_MAX_ORDER_NOTIONAL": "100000",
}
AUTH_BURST = 5
SMALL_AUTH_ALLOWANCE = {
    "DYDX_ROUTER_AUTH_FAILURES_BURST": str(AUTH_BURST),
    "DYDX_ROUTER_AUTH_FAILURES_PER_S": "0.01",
}
MAX_CONCURRENCY = 16  # the smallest the settings take
REFUSAL_BUDGET_MS = 5.0


@pytest.fixture(scope="module")
def attacked(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "attacked") as url:
        r = start_router(devnet, url, "attacked", SHIPPED_DEFAULTS)
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def untrusting(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    """No trusted proxy, a small auth-failure allowance (exhausted by its one test) and a small
    concurrency limit."""
    env = SMALL_AUTH_ALLOWANCE | {"DYDX_ROUTER_MAX_CONCURRENCY": str(MAX_CONCURRENCY)}
    with fresh_database(pg_server_url, "untrusting") as url:
        r = start_router(devnet, url, "untrusting", env)
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def guarded(
    devnet: DevnetProcess, pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RouterProcess]:
    key_file = tmp_path_factory.mktemp("secrets") / "trading-key.hex"
    env = SMALL_AUTH_ALLOWANCE | {
        "DYDX_ROUTER_REQUIRE_RISK_LIMITS": "true",
        "DYDX_ROUTER_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "DYDX_ROUTER_API_DOCS": "false",
    }
    with fresh_database(pg_server_url, "guarded") as url:
        r = start_router(devnet, url, "guarded", env, key_file=key_file)
        try:
            yield r
        finally:
            stop_router(r)


def new_key(r: RouterProcess, scopes: list[str], subaccounts: list[int] | None = None) -> str:
    body: dict[str, Any] = {"name": f"k-{uuid.uuid4().hex[:6]}", "scopes": scopes}
    if subaccounts is not None:
        body["subaccounts"] = subaccounts
    with r.client() as admin:
        resp = admin.post("/v1/admin/api-keys", json=body)
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key


def anonymous(r: RouterProcess) -> httpx.Client:
    return httpx.Client(base_url=r.url, timeout=30)


def refused(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["error"]["code"] == code, body
    return body


def server_ms(resp: httpx.Response) -> float:
    """The router's own time for the request (Server-Timing: total)."""
    timing = resp.headers["server-timing"]
    return float(timing.split("total;dur=")[1].split(",")[0])


def resting_buy(c: httpx.Client, market: str = "ETH-USD") -> str:
    price = (oracle(c, market) * Decimal("0.95")).quantize(Decimal("0.1"))
    resp = place(
        c, {"market": market, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": str(price)}
    )
    assert resp.status_code == 201, resp.text
    oid: str = resp.json()["id"]
    wait_for(lambda: order_of(c, oid), lambda o: o["status"] == "OPEN")
    return oid


# --- 1. hostile input ---------------------------------------------------------------------------
HOSTILE_NUMBERS = [
    "1e-99999999",
    "1e999999999",
    "1E+999999999",
    "-1e-999999999",
    "0e-99999999",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1" * 31,
    "1e-19",
    "١٢٣",
]


def test_hostile_numbers_are_refused_in_microseconds_with_or_without_a_key(
    attacked: RouterProcess,
) -> None:
    trader = new_key(attacked, ["read", "trade"])
    admin_paths = [("PUT", "/v1/admin/risk-limits/global", "max_order_notional", {})]
    order = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001"}
    timings: list[float] = []
    with attacked.client(trader) as c, anonymous(attacked) as anon, attacked.client() as admin:
        for value in HOSTILE_NUMBERS:
            for client, status, code in (
                (c, 422, "invalid_request"),
                (anon, 401, "unauthenticated"),
            ):
                # Without a key the answer is the 401; either way at once.
                for field in ("size", "price"):
                    body = order | {"price": "50000"} | {field: value}
                    resp = client.post("/v1/orders", json=body)
                    refused(resp, status, code)
                    timings.append(server_ms(resp))
                resp = client.post("/v1/positions/BTC-USD/close", json={"size": value})
                refused(resp, status, code)
                timings.append(server_ms(resp))
            for method, path, field, base in admin_paths:
                resp = admin.request(method, path, json=base | {field: value})
                refused(resp, 422, "invalid_request")
                timings.append(server_ms(resp))
        # The service still answers and trades afterwards.
        assert c.get("/v1/markets").status_code == 200
    timings.sort()
    print(
        f"refusal time (server, ms) over {len(timings)} hostile requests: "
        f"p50 {timings[len(timings) // 2]:.3f}, max {timings[-1]:.3f}"
    )
    assert timings[len(timings) // 2] < REFUSAL_BUDGET_MS, timings
    # The slowest of many meet a busy machine (CI runs two test workers on two cores): nearly
    # all within ten budgets still tells a refusal from work (the old hang took seconds).
    assert sum(t < 10 * REFUSAL_BUDGET_MS for t in timings) >= 0.95 * len(timings), timings


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # As deep as fits in the 64 KiB body limit.
        (b"[" * 32_000 + b"]" * 32_000, "nesting_too_deep"),
        (b'{"market": ' * 2_900 + b"1" + b"}" * 2_900, "nesting_too_deep"),
        (b'{"market": "BTC-\xff\xfe-USD"}', "invalid_encoding"),
        # An integer past json.loads' 4,300 digits raises a bare ValueError (was 400 http_error).
        (b'{"subaccount": ' + b"9" * 4_301 + b"}", "number_out_of_range"),
    ],
)
def test_unreadable_bodies_are_refused_before_authentication(
    attacked: RouterProcess, body: bytes, code: str
) -> None:
    headers = {"content-type": "application/json"}
    with anonymous(attacked) as anon:
        for path in ("/v1/orders", "/v1/orders/cancel", "/v1/admin/risk-limits/global"):
            method = "PUT" if "admin" in path else "POST"
            resp = anon.request(method, path, content=body, headers=headers)
            refused(resp, 422, code)
            assert server_ms(resp) < 50  # a parse that gave up at once, not a hang


def test_the_event_loop_stays_responsive_under_hostile_requests(attacked: RouterProcess) -> None:
    trader = new_key(attacked, ["read", "trade"])
    stop = threading.Event()
    sent = [0]

    def attack() -> None:
        with attacked.client(trader) as c:
            i = 0
            while not stop.is_set():
                value = HOSTILE_NUMBERS[i % len(HOSTILE_NUMBERS)]
                c.post(
                    "/v1/orders",
                    json={"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": value},
                )
                c.post(
                    "/v1/orders",
                    content=b"[" * 30_000,
                    headers={"content-type": "application/json"},
                )
                sent[0] += 2
                i += 1

    threads = [threading.Thread(target=attack) for _ in range(4)]
    for t in threads:
        t.start()
    health: list[float] = []
    try:
        with anonymous(attacked) as probe:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                start = time.perf_counter()
                assert probe.get("/health").status_code == 200
                health.append(time.perf_counter() - start)
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    print(f"{sent[0]} hostile requests; /health max {max(health) * 1000:.1f} ms")
    assert sent[0] > 50 and len(health) > 20
    assert max(health) < 1.0, health  # before: /health did not answer for 10 s and more


# --- 2. dry runs ---------------------------------------------------------------------------------
def test_a_dry_run_hands_out_nothing_broadcastable(attacked: RouterProcess) -> None:
    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as c:
        resp = c.post(
            "/v1/orders",
            params={"dry_run": "true"},
            json={"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"},
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"dry_run", "order", "order_id", "sign_doc_sha256"}
    assert body["order"]["chain"]["tx_hash"] is None
    # No field long enough to be a signed transaction (a signed order is ~300 bytes).
    longest = max(len(v) for v in json.dumps(body).split('"'))
    assert longest <= 64, longest


# --- 3-4. key scopes -----------------------------------------------------------------------------
def test_a_read_key_cannot_trade_cancel_or_administer(attacked: RouterProcess) -> None:
    reader = new_key(attacked, ["read"])
    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as t:
        oid = resting_buy(t)
    with attacked.client(reader) as r:
        order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        refused(place(r, order), 403, "insufficient_scope")
        refused(r.delete(f"/v1/orders/{oid}"), 403, "insufficient_scope")
        refused(r.post("/v1/orders/cancel", json={"all": True}), 403, "insufficient_scope")
        refused(r.post("/v1/positions/ETH-USD/close"), 403, "insufficient_scope")
        refused(r.get("/v1/admin/api-keys"), 403, "insufficient_scope")
        refused(r.get("/v1/admin/audit"), 403, "insufficient_scope")
        # Without orders:all a key sees only the orders it placed: none.
        refused(r.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        assert oid not in [o["id"] for o in r.get("/v1/orders").json()["orders"]]


def test_every_admin_route_refuses_a_read_or_a_trade_key(attacked: RouterProcess) -> None:
    # Enumerated from the app: an admin route added later cannot be forgotten.
    admin_routes = [(m, p) for m, p in protected_routes() if p.startswith("/v1/admin")]
    assert len(admin_routes) >= 12, admin_routes
    for scopes in (["read"], ["trade"], ["read", "trade", "orders:all"]):
        with attacked.client(new_key(attacked, scopes)) as k:
            for method, path in admin_routes:
                body = refused(k.request(method, path, json={}), 403, "insufficient_scope")
                assert body["error"]["details"] == {"required_scope": "admin"}, (method, path)


def test_keys_see_and_cancel_only_their_own_orders(attacked: RouterProcess) -> None:
    alice = new_key(attacked, ["read", "trade"])
    mallory = new_key(attacked, ["read", "trade"])
    auditor = new_key(attacked, ["read", "orders:all"])
    with attacked.client(alice) as a, attacked.client(mallory) as m:
        oid = resting_buy(a)
        mine = resting_buy(m)
        refused(m.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        listed = [o["id"] for o in m.get("/v1/orders", params={"limit": 500}).json()["orders"]]
        assert oid not in listed and mine in listed
        refused(m.delete(f"/v1/orders/{oid}"), 404, "order_not_found")
        refused(m.post("/v1/orders/cancel", json={"ids": [oid]}), 404, "order_not_found")
        everything = m.post("/v1/orders/cancel", json={"all": True})
        assert everything.status_code == 200, everything.text
        assert [o["id"] for o in everything.json()["orders"]] == [mine]
        market = m.post("/v1/orders/cancel", json={"market": "ETH-USD"})
        assert oid not in [o["id"] for o in market.json()["orders"]]
        assert order_of(a, oid)["status"] == "OPEN"  # alice's order untouched
        with attacked.client(auditor) as au:
            assert order_of(au, oid)["id"] == oid  # orders:all reads every order
            refused(au.delete(f"/v1/orders/{oid}"), 403, "insufficient_scope")
        assert a.delete(f"/v1/orders/{oid}").status_code == 200


def test_a_restricted_admin_acts_only_inside_its_subaccounts(attacked: RouterProcess) -> None:
    boss = new_key(attacked, ["read", "trade", "admin"], [1])
    with attacked.client() as root:
        root_id = root.get("/v1/admin/api-keys").json()["api_keys"][0]["id"]
        elsewhere = resting_buy(root)  # in subaccount 0
    with attacked.client(boss) as b:
        # Keys: only those inside its subaccounts are listed or revocable.
        listed = b.get("/v1/admin/api-keys").json()["api_keys"]
        assert listed and all(k["subaccounts"] and set(k["subaccounts"]) <= {1} for k in listed)
        refused(b.delete(f"/v1/admin/api-keys/{root_id}"), 404, "api_key_not_found")
        refused(
            b.post("/v1/admin/api-keys", json={"name": "wide", "scopes": ["trade"]}),
            403,
            "subaccount_forbidden",
        )
        inner = b.post(
            "/v1/admin/api-keys", json={"name": "n", "scopes": ["read"], "subaccounts": [1]}
        )
        assert inner.status_code == 201, inner.text
        assert b.delete(f"/v1/admin/api-keys/{inner.json()['id']}").status_code == 200
        # Global actions need an unrestricted admin.
        for method, path, body in [
            ("PUT", "/v1/admin/risk-limits/global", {"max_order_size": "1"}),
            ("PUT", "/v1/admin/risk-limits/markets/BTC-USD", {"max_order_size": "1"}),
            ("DELETE", "/v1/admin/risk-limits/markets/BTC-USD", None),
            ("POST", "/v1/admin/trading-state", {"state": "HALTED", "cancel_open_orders": True}),
            ("GET", "/v1/admin/audit", None),
        ]:
            refused(b.request(method, path, json=body), 403, "admin_scope_restricted")
        # A key outside its subaccounts has no agent limits it may read, set or delete.
        limits = f"/v1/admin/api-keys/{root_id}/limits"
        refused(b.get(limits), 404, "api_key_not_found")
        refused(b.put(limits, json={"max_open_orders": 1}), 404, "api_key_not_found")
        refused(b.delete(limits), 404, "api_key_not_found")
        # The console's controls: another key's order, another subaccount's position.
        refused(b.post(f"/v1/admin/orders/{elsewhere}/cancel"), 404, "order_not_found")
        refused(
            b.post("/v1/admin/positions/ETH-USD/close", json={"subaccount": 0}),
            403,
            "subaccount_forbidden",
        )
        # Orders: its subaccounts only.
        order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        refused(place(b, order), 403, "subaccount_forbidden")
        refused(place(b, order | {"subaccount": 0}), 403, "subaccount_forbidden")
        refused(b.get("/v1/positions", params={"subaccount": 0}), 403, "subaccount_forbidden")
    with attacked.client() as root:
        assert root.get("/v1/admin/trading-state").json()["state"] == "ACTIVE"
        assert order_of(root, elsewhere)["status"] == "OPEN"
        assert root.delete(f"/v1/orders/{elsewhere}").status_code == 200


def audit_rows(r: RouterProcess) -> int:
    import asyncio

    import asyncpg

    from dydx_router.store.database import asyncpg_dsn

    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(r.database_url))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM audit_log"))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_a_restricted_admins_refused_close_writes_nothing_to_the_audit_log(
    attacked: RouterProcess,
) -> None:
    # The permanent log records what was done or attempted within a key's reach: a close
    # outside it is refused before anything is written (before: position_close_requested and
    # position_close_failed rows for a 403).
    boss = new_key(attacked, ["read", "trade", "admin"], [1])
    with attacked.client(boss) as b:
        before = audit_rows(attacked)
        for body in ({"subaccount": 0}, None):  # named, and the default subaccount (0)
            refused(
                b.post("/v1/admin/positions/BTC-USD/close", json=body),
                403,
                "subaccount_forbidden",
            )
        assert audit_rows(attacked) == before
        # Inside its reach the attempt is audited, intent and outcome (no position here).
        refused(
            b.post("/v1/admin/positions/BTC-USD/close", json={"subaccount": 1}), 404, "no_position"
        )
        assert audit_rows(attacked) == before + 2


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


def test_stored_orders_carry_their_key_and_keyless_ones_stay_hidden(
    attacked: RouterProcess,
) -> None:
    # An order stored before keys were recorded (api_key_id NULL) is visible to orders:all and
    # unrestricted admins only.
    import asyncio

    import asyncpg

    from dydx_router.store.database import asyncpg_dsn

    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as c:
        oid = resting_buy(c)

    async def orphan() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(attacked.database_url))
        try:
            await conn.execute("UPDATE orders SET api_key_id = NULL WHERE id = $1", uuid.UUID(oid))
        finally:
            await conn.close()

    asyncio.run(orphan())
    with attacked.client(trader) as c, attacked.client() as admin:
        refused(c.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        assert order_of(admin, oid)["id"] == oid
        assert admin.delete(f"/v1/orders/{oid}").status_code == 200


PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "error"}


def test_no_key_is_refused_everywhere_in_the_same_shape(attacked: RouterProcess) -> None:
    with anonymous(attacked) as anon:
        spec = anon.get("/openapi.json").json()
        for path, operations in spec["paths"].items():
            if path in {"/health", "/ready", "/metrics"}:
                continue
            concrete = path.replace("{market}", "BTC-USD").replace("{order_id}", str(uuid.uuid4()))
            concrete = concrete.replace("{key_id}", str(uuid.uuid4()))
            for method in operations:
                resp = anon.request(method.upper(), concrete, json={})
                assert resp.status_code in (401, 422), (method, path, resp.text)
                # RFC 9457 problem details with our code, and the error object (api/problem.py).
                assert set(resp.json()) == PROBLEM_FIELDS, resp.text
                assert resp.headers["content-type"] == "application/problem+json"
