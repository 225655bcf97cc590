"""Order service under failure, with the hand-written fakes of test_order_service.py: a chain
whose every endpoint is failing, answers lost and found again, and a shutdown in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.unit.service.test_order_service import FakeExchange, env, market_buy

from dydx_router.chain.errors import ChainUnavailable
from dydx_router.domain.order import OrderStatus
from dydx_router.service.lifecycle import ShuttingDown, WriteGate
from dydx_router.service.orders import Caller
from dydx_router.service.ports import Outcome, Submission

__all__ = ["env"]  # the fixture, re-used


async def test_chain_down_answers_before_anything_is_stored(env: Any) -> None:
    store, exchange, service = env
    exchange.chain_down = True
    with pytest.raises(ChainUnavailable) as exc:
        await service.place(market_buy(), Caller())
    assert exc.value.details["circuit_open"]
    assert store.rows == {} and store.commits == 0 and exchange.broadcasts == []
    exchange.chain_down = False
    assert (await service.place(market_buy(), Caller())).order.status is OrderStatus.SUBMITTED


async def test_cancel_with_the_chain_down_changes_nothing(env: Any) -> None:
    store, exchange, service = env
    placed = (await service.place(market_buy(), Caller())).order
    exchange.chain_down = True
    with pytest.raises(ChainUnavailable):
        await service.cancel(placed.id, Caller())
    assert store.rows[placed.id].status is OrderStatus.SUBMITTED and exchange.cancels == []


async def test_an_answer_found_already_with_the_chain_is_submitted(env: Any) -> None:
    store, exchange, service = env

    async def landed_before(signed_tx: bytes) -> Submission:
        from dydx_router.domain.order import ChainError

        exchange.broadcasts.append(signed_tx)
        err = ChainError("sdk", 19, "tx already exists in cache")
        return Submission(Outcome.ALREADY_DONE, "AB" * 32, signed_tx, err)

    exchange.broadcast = landed_before  # type: ignore[method-assign]
    order = (await service.place(market_buy(), Caller())).order
    row = store.rows[order.id]
    assert row.status is OrderStatus.SUBMITTED and row.last_error is None
    assert "already with the chain: sdk/19" in store.history[-1][1].reason


async def test_a_closed_gate_refuses_new_writes_and_drain_waits_for_the_running_one(
    env: Any,
) -> None:
    store, exchange, service = env
    release = asyncio.Event()
    original = FakeExchange.broadcast

    async def slow(signed_tx: bytes) -> Submission:
        await release.wait()
        return await original(exchange, signed_tx)

    exchange.broadcast = slow  # type: ignore[method-assign]
    running = asyncio.create_task(service.place(market_buy(), Caller()))
    await asyncio.sleep(0.01)
    assert service.writes.in_flight == 1
    service.writes.close()
    with pytest.raises(ShuttingDown):
        await service.place(market_buy(), Caller())
    assert await service.writes.drain(0.05) == 1  # still broadcasting
    release.set()
    assert await service.writes.drain(1.0) == 0
    order = (await running).order
    assert store.rows[order.id].status is OrderStatus.SUBMITTED  # finished, outcome recorded
    assert len(store.rows) == 1


async def test_gate_counts_nested_writes_and_failures() -> None:
    gate = WriteGate()
    with pytest.raises(RuntimeError), gate.enter(), gate.enter():
        assert gate.in_flight == 2
        raise RuntimeError("boom")
    assert gate.in_flight == 0 and await gate.drain(0) == 0
