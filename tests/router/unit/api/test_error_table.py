"""The one error -> HTTP table (api/errors.py), row by row: every business error of the domain
catalogue (domain/errors.py) and every chain error (chain/errors.py) the API maps, raised from a
route, answers its status and its stable code."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from dydx_router.api.errors import STATUS_TABLE, install_error_handlers
from dydx_router.chain import errors as chain
from dydx_router.domain import errors as domain

ROWS: list[tuple[Exception, int, str]] = [
    (domain.OrderNotFound("x"), 404, "order_not_found"),
    (domain.ApiKeyNotFound("x"), 404, "api_key_not_found"),
    (domain.RiskLimitsNotFound("x"), 404, "risk_limits_not_found"),
    (domain.AgentLimitsNotFound("x"), 404, "agent_limits_not_found"),
    (domain.EventsExpired("x", last_event_id=1), 410, "event_id_expired"),
    (domain.UnknownEventId("x", last_event_id=1), 400, "unknown_event_id"),
    (domain.NoPosition("x"), 404, "no_position"),
    (domain.SubaccountForbidden("x"), 403, "subaccount_forbidden"),
    (domain.AdminScopeRestricted("x"), 403, "admin_scope_restricted"),
    (domain.TradingHalted("x"), 409, "trading_halted"),
    (domain.TradingReduceOnly("x"), 409, "trading_reduce_only"),
    (domain.RiskLimitBreached("x", code="risk_max_order_size"), 400, "risk_max_order_size"),
    (
        domain.AgentLimitBreached("x", code="agent_max_order_notional"),
        400,
        "agent_max_order_notional",
    ),
    (domain.RiskDataUnavailable("x"), 503, "risk_data_unavailable"),
    (domain.ShuttingDown("x"), 503, "shutting_down"),
    (domain.ChainRateLimited("x"), 429, "chain_rate_limited"),
    (domain.IdempotencyConflict("x"), 422, "idempotency_key_reused"),
    (domain.IdempotencyInFlight("x"), 409, "idempotency_in_flight"),
    (domain.OrderNotCancelable("x"), 409, "order_not_cancelable"),
    (domain.OrderInFlight("x"), 409, "order_in_flight"),
    (domain.DuplicateOrder("x"), 409, "duplicate_order"),
    (domain.ConcurrentUpdate("x"), 409, "concurrent_update"),
    (domain.IllegalTransition("x"), 409, "illegal_status_transition"),
    (domain.UnknownMarket("x"), 400, "unknown_market"),
    (domain.InvalidApiKeySpec("x"), 400, "invalid_api_key_spec"),
    (domain.InvalidOrder("x"), 400, "invalid_order"),
    (domain.DomainError("x"), 400, "domain_error"),
    (chain.AccountNotFound("dydx1x"), 409, "account_not_found"),
    (chain.ChainTimeout("x"), 504, "chain_timeout"),
    (chain.ChainUnavailable("x"), 503, "chain_unavailable"),
    (chain.HeightUnknown("x"), 503, "height_unknown"),
    (chain.PriceStale("x"), 503, "price_stale"),
    (chain.IndexerUnavailable("x"), 503, "indexer_unavailable"),
    (chain.InvalidTxInput("x"), 400, "invalid_tx_input"),
    (chain.ChainError("x"), 502, "chain_error"),
]


def test_every_row_of_the_table_is_tested() -> None:
    assert {cls for cls, _ in STATUS_TABLE} == {type(exc) for exc, _, _ in ROWS}


@pytest.mark.parametrize(
    ("exc", "status", "code"), ROWS, ids=[type(e).__name__ for e, _, _ in ROWS]
)
async def test_each_error_answers_its_status_and_code(
    exc: Exception, status: int, code: str
) -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise exc

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/")
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (domain.InvalidCursor("x"), "invalid_cursor"),
        (domain.InvalidStatusFilter("x"), "invalid_status"),
        (domain.InvalidCancelSelector("x"), "invalid_cancel_selector"),
    ],
    ids=["InvalidCursor", "InvalidStatusFilter", "InvalidCancelSelector"],
)
async def test_what_a_request_asks_wrongly_is_a_400(exc: Exception, code: str) -> None:
    """Errors of the catalogue without a row of their own: DomainError's row."""
    await test_each_error_answers_its_status_and_code(exc, 400, code)
