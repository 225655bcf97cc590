"""The API over HTTP as an attacker, hostile input: numbers, bodies and floods that must be
refused at once without starving the service, and a dry run that must hand out nothing signed
(docs/security.md lists each threat and the test that proves its defence). The router,
``attacked`` (conftest.py), runs the safe defaults as shipped."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.security_kit import (
    REFUSAL_BUDGET_MS,
    anonymous,
    new_key,
    refused,
    server_ms,
)

pytestmark = pytest.mark.e2e


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
