"""Order service under failure, with the hand-written fakes of fakes.py: a chain
whose every endpoint is failing, answers lost and found again, and a shutdown in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.router.unit.service.fakes import (
    FakeExchange,
    FakeUnitOfWork,
    env,
    market_buy,
)

from dydx_router.chain.errors import ChainUnavailable
from dydx_router.domain.errors import ShuttingDown
from dydx_router.domain.market import Side
from dydx_router.domain.order import ChainError, Order, OrderStatus, OrderType
from dydx_router.domain.planning import OrderRequest
from dydx_router.service.lifecycle import WriteGate
from dydx_router.service.orders import Caller, PlaceOrder
from dydx_router.service.ports import Outcome, Submission
from dydx_router.service.sync import OrderSync

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
        exchange.broadcasts.append(signed_tx)
        err = ChainError("clob", 3005, "stateful order already exists")
        return Submission(Outcome.ALREADY_DONE, "AB" * 32, signed_tx, err)

    exchange.broadcast = landed_before  # type: ignore[method-assign]
    order = (await service.place(market_buy(), Caller())).order
    row = store.rows[order.id]
    assert row.status is OrderStatus.SUBMITTED and row.last_error is None
    assert "already with the chain: clob/3005" in store.history[-1][1].reason


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


def resting_limit() -> PlaceOrder:
    req = OrderRequest(
        market="BTC-USD",
        side=Side.BUY,
        type=OrderType.LIMIT,
        size=Decimal("0.01"),
        price=Decimal(40000),
        good_til_seconds=600,
    )
    return PlaceOrder(request=req, subaccount_number=0)


async def _aged_stateful(env: Any, outcome: Outcome) -> tuple[Any, Any, Order, OrderSync]:
    store, exchange, service = env
    exchange.outcome = outcome
    order = (await service.place(resting_limit(), Caller())).order
    store.rows[order.id].created_at = datetime(2000, 1, 1, tzinfo=UTC)
    exchange.outcome = Outcome.ACCEPTED
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    return store, exchange, order, sync


async def test_a_stateful_order_in_no_block_after_the_timeout_becomes_unknown(env: Any) -> None:
    store, exchange, order, sync = await _aged_stateful(env, Outcome.ACCEPTED)
    young = OrderSync(uow=sync.uow, exchange=exchange, confirm_after=timedelta(days=365 * 100))
    await young.reconcile()
    assert store.rows[order.id].status is OrderStatus.SUBMITTED  # not yet due
    await sync.reconcile()
    assert store.rows[order.id].status is OrderStatus.UNKNOWN  # never FAILED by guess
    assert "in no block" in store.history[-1][1].reason
    # The block turns up after all (a slow chain): placed, nothing re-sent.
    tx_hash = store.rows[order.id].tx_hash
    exchange.committed[tx_hash] = Submission(Outcome.ACCEPTED, tx_hash)
    await sync.reconcile()
    assert store.rows[order.id].status is OrderStatus.SUBMITTED
    assert exchange.broadcasts == [b"stateful"]


async def test_an_unknown_stateful_order_failed_in_its_block_is_rejected(env: Any) -> None:
    store, exchange, order, sync = await _aged_stateful(env, Outcome.UNKNOWN)
    assert store.rows[order.id].tx_hash is not None  # kept from the signed tx
    failure = ChainError("clob", 3007, "collateralization check failed")
    tx_hash = store.rows[order.id].tx_hash
    exchange.committed[tx_hash] = Submission(Outcome.REJECTED, tx_hash, None, failure)
    await sync.reconcile()
    row = store.rows[order.id]
    assert row.status is OrderStatus.REJECTED and row.last_error == failure


async def test_an_unknown_stateful_order_in_no_block_is_resent_identically(env: Any) -> None:
    store, exchange, order, sync = await _aged_stateful(env, Outcome.UNKNOWN)
    report = await sync.reconcile()
    assert report.rebroadcast == 1
    assert exchange.broadcasts == [b"stateful", b"stateful"]  # the same bytes again
    assert store.rows[order.id].status is OrderStatus.SUBMITTED


async def test_quick_reconcile_passes_expire_what_the_stream_left_behind(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    row = store.rows[order.id]
    row.status, row.created_at = OrderStatus.OPEN, datetime(2000, 1, 1, tzinfo=UTC)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    assert row.good_til_block is not None
    exchange.height = row.good_til_block + 2  # just past it: the stream's expiry comes first
    await sync.reconcile(full=False)
    assert store.rows[order.id].status is OrderStatus.OPEN
    exchange.height = row.good_til_block + 10  # the stream missed it: the backstop settles it
    await sync.reconcile(full=False)
    assert store.rows[order.id].status is OrderStatus.EXPIRED


async def test_quick_passes_count_the_wait_from_what_the_stream_has_settled(env: Any) -> None:
    """A submitted order 10 s old is overdue for a live stream that is caught up, but not for
    one that has settled only the events it received up to 8 s ago (its report may be queued)."""
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    now = datetime.now(UTC)
    store.rows[order.id].created_at = now - timedelta(seconds=10)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, clock=lambda: now)
    behind = await sync.reconcile(full=False, seen_through=now - timedelta(seconds=8))
    assert behind.checked == 0
    caught_up = await sync.reconcile(full=False, seen_through=now)
    assert caught_up.checked == 1
