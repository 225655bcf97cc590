"""The typed client against scripted HTTP answers (httpx.MockTransport): retries re-use the
Idempotency-Key, Retry-After is honoured, error bodies become the code's exception class."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from dydx_router_client import AsyncRouterClient, PlaceOrderBody, RetryPolicy, RouterClient
from dydx_router_client import errors as client_errors

ROOT = Path(__file__).resolve().parents[4]
ORDER = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}


def order_json(status: str = "SUBMITTED") -> dict[str, Any]:
    return {
        "id": "5b2f6f5e-7d3c-4a8e-9a55-0d1f4f0c7f10",
        "status": status, "market": "BTC-USD", "side": "BUY", "type": "MARKET",
        "time_in_force": "IOC", "size": "0.001", "price": "70000", "trigger_price": None,
        "max_slippage_bps": 100, "reduce_only": False, "post_only": False,
        "filled_size": "0", "average_fill_price": None, "client_order_id": None,
        "subaccount": 0, "error": None, "created_at": None, "updated_at": None,
        "status_history": None,
        "chain": {
            "client_id": 1, "order_flags": 0, "clob_pair_id": 0, "owner": "dydx1x",
            "subaccount_number": 0, "good_til_block": 10, "good_til_block_time": None,
            "indexer_order_id": "5b2f6f5e-7d3c-4a8e-9a55-0d1f4f0c7f11", "quantums": "1",
            "subticks": "1", "trigger_subticks": None, "tx_hash": None,
        },
    }  # fmt: skip


FAST = RetryPolicy(max_attempts=4, backoff_s=0.01, max_backoff_s=0.02)


def test_placement_retried_after_5xx_and_lost_connection_keeps_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                503, json={"error": {"code": "chain_unavailable", "message": "x"}}
            )
        if len(seen) == 2:
            raise httpx.ReadError("connection lost", request=request)
        return httpx.Response(200, json=order_json())

    with RouterClient("http://r", "k", retry=FAST, transport=httpx.MockTransport(answer)) as c:
        order = c.place_order(PlaceOrderBody.model_validate(ORDER))
    assert order.size == Decimal("0.001")
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1 and next(iter(keys)).startswith("rc-")
    # Decimals go out as strings (the router refuses JSON numbers for money).
    assert b'"size":"0.001"' in seen[0].content


async def test_retry_after_is_waited_then_the_error_class_raised() -> None:
    times: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return httpx.Response(
            429,
            json={"error": {"code": "rate_limited", "message": "slow down"}},
            headers={"Retry-After": "0.3"},
        )

    retry = RetryPolicy(max_attempts=2, backoff_s=0.01)
    async with AsyncRouterClient(
        "http://r", "k", retry=retry, transport=httpx.MockTransport(answer)
    ) as c:
        with pytest.raises(client_errors.RateLimited) as caught:
            await c.markets()
    assert len(times) == 2 and times[1] - times[0] >= 0.3
    assert caught.value.code == "rate_limited" and caught.value.retry_after == 0.3
    assert type(caught.value) is client_errors.ERRORS["rate_limited"]


def test_an_error_body_becomes_its_code_class_with_details() -> None:
    body = {
        "error": {"code": "trading_halted", "message": "halted", "details": {"state": "HALTED"}}
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(409, json=body))
    client = RouterClient("http://r", "k", retry=FAST, transport=transport)
    with client as c, pytest.raises(client_errors.Conflict) as caught:
        c.place_order(PlaceOrderBody.model_validate(ORDER))
    assert type(caught.value).__name__ == "TradingHaltedError"
    assert caught.value.status == 409 and caught.value.details == {"state": "HALTED"}


def test_an_unknown_code_falls_back_to_its_status_family() -> None:
    body = {"error": {"code": "brand_new_code", "message": "?"}}
    transport = httpx.MockTransport(lambda r: httpx.Response(403, json=body))
    with (
        RouterClient("http://r", "k", transport=transport) as c,
        pytest.raises(client_errors.Forbidden),
    ):
        c.markets()


def _server_codes() -> set[str]:
    """Every stable error code the router can answer with (the discovery docs/errors.md uses)."""
    from dydx_router.reference.errors import discover

    return set(discover())


def test_every_error_code_of_the_server_has_a_class() -> None:
    codes = _server_codes()
    assert {"trading_halted", "invalid_api_key", "rate_limited", "invalid_request"} <= codes
    missing = sorted(codes - set(client_errors.ERRORS))
    assert not missing, f"add these codes to dydx_router_client/errors.py: {missing}"


def test_a_4xx_is_not_retried() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = {"error": {"code": "idempotency_key_reused", "message": "other body"}}
        return httpx.Response(409, json=body)

    client = RouterClient("http://r", "k", retry=FAST, transport=httpx.MockTransport(answer))
    with client as c, pytest.raises(client_errors.Conflict):
        c.place_order(PlaceOrderBody.model_validate(ORDER), idempotency_key="mine")
    assert len(calls) == 1 and calls[0].headers["Idempotency-Key"] == "mine"


async def test_a_placement_still_in_flight_is_retried_with_its_key_until_replayed() -> None:
    # The first attempt's answer was lost while the router still broadcasts it: the retry is
    # 409 idempotency_in_flight with Retry-After, then the replay of the one order (200).
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadError("connection lost", request=request)
        if len(seen) == 2:
            body = {"error": {"code": "idempotency_in_flight", "message": "in flight"}}
            return httpx.Response(409, json=body, headers={"Retry-After": "0"})
        return httpx.Response(200, json=order_json(), headers={"Idempotent-Replayed": "true"})

    transport = httpx.MockTransport(answer)
    async with AsyncRouterClient("http://r", "k", retry=FAST, transport=transport) as c:
        order = await c.place_order(PlaceOrderBody.model_validate(ORDER))
    assert order.status == "SUBMITTED"
    assert len(seen) == 3 and len({r.headers["Idempotency-Key"] for r in seen}) == 1


def test_without_any_answer_the_transport_error_is_raised_after_the_attempts() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    client = RouterClient("http://r", "k", retry=FAST, transport=httpx.MockTransport(answer))
    with client as c, pytest.raises(client_errors.TransportError):
        c.markets()
    assert len(calls) == FAST.max_attempts
