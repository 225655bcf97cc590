"""Idempotency-Key while the first request is in flight (draft-ietf-httpapi-idempotency-key-header
§2.7): 409 ``idempotency_in_flight``, never a wait and never a second order. The end-to-end proof,
with concurrent HTTP requests against PostgreSQL and a slowed devnet, is in
tests/router/e2e/test_idempotency_in_flight.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from tests.router.unit.service.fakes import (
    FakeExchange,
    FakeStore,
    FakeUnitOfWork,
    market_buy,
)

from dydx_router.domain.errors import IdempotencyConflict, IdempotencyInFlight
from dydx_router.domain.order import OrderStatus
from dydx_router.service.orders import Caller, OrderService
from dydx_router.service.ports import Submission


@dataclass
class HeldExchange(FakeExchange):
    """Holds every broadcast until ``release`` is set, as a slow node would."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def broadcast(self, signed_tx: bytes, *, resend: bool = False) -> Submission:
        self.entered.set()
        await self.release.wait()
        return await super().broadcast(signed_tx, resend=resend)


async def test_a_retry_while_the_first_is_in_flight_is_refused_then_replayed() -> None:
    store = FakeStore()
    exchange = HeldExchange(store)
    service = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    first = asyncio.create_task(service.place(market_buy(idempotency_key="k"), Caller()))
    await asyncio.wait_for(exchange.entered.wait(), 5)
    try:
        with pytest.raises(IdempotencyInFlight) as refused:
            await service.place(market_buy(idempotency_key="k"), Caller())
        (row,) = store.rows.values()
        assert row.status is OrderStatus.PENDING
        assert refused.value.code == "idempotency_in_flight"
        assert refused.value.details["order_id"] == str(row.id)
        # Another body with the key is still 422, in flight or not.
        with pytest.raises(IdempotencyConflict):
            await service.place(market_buy(idempotency_key="k", client_order_id="other"), Caller())
    finally:
        exchange.release.set()
    placed = await first
    assert placed.order.status is OrderStatus.SUBMITTED and not placed.replayed
    again = await service.place(market_buy(idempotency_key="k"), Caller())
    assert again.replayed and again.order.id == placed.order.id
    assert len(exchange.broadcasts) == 1 and len(store.rows) == 1
