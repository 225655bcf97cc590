"""Issue 13, items 1-6, at the unit level (hand-written fakes of the ports): what a re-send's
refusal means, the write-ahead of stateful txs, recovery under the kill switch, cancel-all over
every non-final order, and a placement whose outcome could not be stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.router.unit.chain.test_sequencer import FakeChain, _long_term, _sequencer
from tests.router.unit.service.fakes import FakeUnitOfWork, env, market_buy
from tests.router.unit.service.test_order_service_resilience import resting_limit

from dydx_router.chain.answers import PLACEMENT_ANSWERS, Meaning, submission_of
from dydx_router.chain.errors import ChainRejected, SequenceMismatch, rejection
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.service.orders import Caller
from dydx_router.service.ports import DatabaseUnavailable, Outcome, Submission
from dydx_router.service.sync import OrderSync

__all__ = ["env"]
OLD = datetime(2000, 1, 1, tzinfo=UTC)


# --- item 1: a re-send's refusal -------------------------------------------------------------


@pytest.mark.parametrize(
    ("codespace", "code", "first", "resent"),
    [
        ("sdk", 19, Outcome.UNKNOWN, Outcome.UNKNOWN),  # seen: accepted or rejected
        ("clob", 3005, Outcome.ALREADY_DONE, Outcome.ALREADY_DONE),
        ("clob", 7, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 20, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 24, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 2004, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 3008, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 3009, Outcome.REJECTED, Outcome.ALREADY_DONE),
        ("clob", 2001, Outcome.REJECTED, Outcome.UNKNOWN),
        ("sdk", 32, Outcome.REJECTED, Outcome.UNKNOWN),  # first send: after the sequencer's tries
        ("clob", 2003, Outcome.REJECTED, Outcome.REJECTED),  # post-only crossing: final on both
    ],
)
def test_a_refusal_means_one_thing_on_a_first_send_and_another_on_a_resend(
    codespace: str, code: int, first: Outcome, resent: Outcome
) -> None:
    err = rejection(codespace, code, "log")
    assert submission_of(err, placement=True).outcome is first
    assert submission_of(err, placement=True, resend=True).outcome is resent
    # The node client's own failover is a re-send too: an earlier attempt may have landed.
    err.resent = True
    assert submission_of(err, placement=True).outcome is resent
    if resent is not Outcome.REJECTED:
        assert submission_of(err, placement=True, resend=True).error is not None


def test_the_table_is_about_placements_only() -> None:
    # A cancel's refusals keep their own reading (clob/20 is nothing to a cancel).
    assert submission_of(rejection("clob", 20, "x"), resend=True).outcome is Outcome.REJECTED
    # On a first send only sdk/19 (the node saw these bytes: accepted or rejected) needs a look.
    firsts = {k for k, m in PLACEMENT_ANSWERS.items() if m[0] is Meaning.LOOK_UP}
    assert firsts == {("sdk", 19)}
    # A cancel that hears sdk/19: its earlier copy may have been rejected; outcome unknown.
    seen = submission_of(rejection("sdk", 19, ""), cancel=True, resend=True)
    assert seen.outcome is Outcome.UNKNOWN


async def test_the_sequencer_marks_answers_after_a_lost_reply_as_resent() -> None:
    """A stateful placement whose first reply was lost (the node client's retry then hears
    sdk/32: its own tx consumed the sequence), re-signed with the same OrderId and answered
    clob/3008: that answer is to a re-send."""
    chain = FakeChain(sequence=4)
    seq = _sequencer(chain)
    lost = SequenceMismatch("account sequence mismatch, expected 5, got 4: x")
    lost.resent = True
    chain.fail_next = lost
    sent: list[int] = []

    async def before(signed: Any) -> None:
        sent.append(len(signed.tx_bytes))
        if len(sent) == 2:
            chain.fail_next = rejection("clob", 3008, "previously cancelled")

    with pytest.raises(ChainRejected) as exc:
        await seq.send([_long_term(1)], before)
    assert exc.value.resent and exc.value.signed is not None
    assert len(sent) == 2  # each signed tx was handed over before it was broadcast
    assert submission_of(exc.value, exc.value.signed, placement=True).outcome is (
        Outcome.ALREADY_DONE
    )


async def test_a_resend_already_there_is_submitted_then_settles_from_the_indexer(
    env: Any,
) -> None:
    store, exchange, service = env
    exchange.outcome = Outcome.UNKNOWN
    order = (await service.place(market_buy(), Caller())).order
    store.rows[order.id].created_at = OLD
    exchange.outcome = Outcome.ALREADY_DONE
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    await sync.reconcile()
    assert exchange.resends == [False, True]  # the reconciler's send is read as a re-send
    assert store.rows[order.id].status is OrderStatus.SUBMITTED


# --- item 2: stateful write-ahead -------------------------------------------------------------


async def test_a_stateful_tx_is_stored_before_it_is_broadcast(env: Any) -> None:
    store, exchange, service = env
    seen: list[bytes | None] = []
    original = exchange.place_stateful

    async def spy(order: Order, plan: Any, *, before_broadcast: Any = None) -> Submission:
        async def check(signed: Any) -> None:
            await before_broadcast(signed)
            seen.append(store.rows[order.id].signed_tx)  # committed before the broadcast

        return await original(order, plan, before_broadcast=check)

    exchange.place_stateful = spy
    await service.place(resting_limit(), Caller())
    assert seen == [b"stateful"]


async def _pending_stateful(env: Any, *, tx: bool) -> tuple[Any, Any, Order, OrderSync]:
    """A stateful order left PENDING by a process that died before its broadcast."""
    store, exchange, service = env
    order = (await service.place(resting_limit(), Caller())).order
    row = store.rows[order.id]
    row.status, row.created_at = OrderStatus.PENDING, OLD
    if not tx:
        row.signed_tx = row.tx_hash = None
    exchange.broadcasts.clear()
    return store, exchange, row, OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)


async def test_a_pending_stateful_order_never_broadcast_is_placed_under_its_order_id(
    env: Any,
) -> None:
    store, exchange, row, sync = await _pending_stateful(env, tx=False)
    await sync.reconcile()
    stored = store.rows[row.id]
    assert stored.status is OrderStatus.SUBMITTED
    assert exchange.broadcasts == [b"stateful-again"] and stored.signed_tx == b"stateful-again"


async def test_a_stateful_tx_whose_sequence_moved_on_is_placed_again(env: Any) -> None:
    store, exchange, row, sync = await _pending_stateful(env, tx=True)
    exchange.consumed.add(b"stateful")  # another tx used its sequence; no block holds it
    await sync.reconcile()
    assert store.rows[row.id].status is OrderStatus.SUBMITTED
    assert exchange.broadcasts == [b"stateful-again"]


async def test_a_stateful_tx_that_may_sit_in_a_mempool_is_resent_identically(env: Any) -> None:
    store, exchange, row, sync = await _pending_stateful(env, tx=True)
    await sync.reconcile()
    assert exchange.broadcasts == [b"stateful"] and exchange.resends[-1] is True
    assert store.rows[row.id].status is OrderStatus.SUBMITTED


# --- item 5: the kill switch stops recovery ---------------------------------------------------


async def test_halted_a_stateful_order_never_broadcast_is_canceled(env: Any) -> None:
    store, exchange, row, sync = await _pending_stateful(env, tx=False)
    sync.halted = lambda: True
    await sync.reconcile()
    assert exchange.broadcasts == []
    assert store.rows[row.id].status is OrderStatus.CANCELED
    assert "never broadcast" in store.history[-1][1].reason


async def test_halted_a_stateful_tx_that_may_have_gone_out_is_not_resent(env: Any) -> None:
    store, exchange, row, sync = await _pending_stateful(env, tx=True)
    sync.halted = lambda: True
    await sync.reconcile()
    assert exchange.broadcasts == []
    assert store.rows[row.id].status is OrderStatus.UNKNOWN  # not provably never placed
    exchange.consumed.add(b"stateful")  # now provably never placed
    await sync.reconcile()
    assert store.rows[row.id].status is OrderStatus.CANCELED


async def test_halted_a_short_term_order_is_cancelled_on_chain_not_resent(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    row = store.rows[order.id]
    row.status, row.created_at = OrderStatus.PENDING, OLD
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, halted=lambda: True)
    await sync.reconcile()
    assert len(exchange.broadcasts) == 1  # only the original placement, no re-send
    assert exchange.cancels == [order.id]
    assert store.rows[order.id].status is OrderStatus.CANCEL_REQUESTED
    assert row.good_til_block is not None
    exchange.height = row.good_til_block + 1  # the indexer passed it too: final
    await sync.reconcile()
    assert store.rows[order.id].status is OrderStatus.CANCELED


async def test_cancel_all_pages_through_every_non_final_order_pending_included(env: Any) -> None:
    store, exchange, service = env
    for i in range(10_050):
        placed = await service.place(market_buy(), Caller())
        store.rows[placed.order.id].created_at = OLD + timedelta(microseconds=i)
    pending = next(iter(store.rows.values()))
    pending.status = OrderStatus.PENDING  # a placement in flight, or left by a crash
    done = await service.cancel_many(Caller())
    assert len(done.orders) == 10_050
    assert all(o.status is OrderStatus.CANCEL_REQUESTED for o in store.rows.values())
    cancelled = sorted(cid for _, ids, _ in exchange.batches for cid in ids[0])
    assert cancelled == sorted(o.client_id for o in store.rows.values())


# --- item 4: a lost cancel --------------------------------------------------------------------


async def test_a_cancel_the_venue_still_shows_open_is_sent_again(env: Any) -> None:
    from dydx_router.domain.sync import VenueOrder, VenueStatus

    store, exchange, service = env
    order = (await service.place(resting_limit(), Caller())).order
    row = store.rows[order.id]
    row.status, row.created_at, row.updated_at = OrderStatus.CANCEL_REQUESTED, OLD, OLD
    exchange.venue = VenueOrder(VenueStatus.OPEN, Decimal(0))
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    await sync.reconcile()
    assert exchange.cancels == [order.id]
    await sync.reconcile()  # not again at once: the chain gets its time to act
    assert exchange.cancels == [order.id]
    sync.clock = lambda: datetime.now(UTC) + timedelta(seconds=10)
    await sync.reconcile()
    assert exchange.cancels == [order.id, order.id]


# --- item 3: expiry on the indexer's height ---------------------------------------------------


async def test_nothing_expires_before_the_indexer_has_passed_the_good_til_block(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    store.rows[order.id].created_at = OLD
    assert order.good_til_block is not None
    exchange.height = order.good_til_block + 50  # the node
    exchange.indexer_at = order.good_til_block - 1  # the indexer lags
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    await sync.reconcile(full=False)
    assert store.rows[order.id].status is OrderStatus.SUBMITTED
    exchange.indexer_at = order.good_til_block + 1
    await sync.reconcile(full=False)
    assert store.rows[order.id].status is OrderStatus.EXPIRED


# --- item 6: an outcome the database could not store -----------------------------------------


async def test_an_outcome_that_could_not_be_stored_is_answered_with_the_order(env: Any) -> None:
    store, _exchange, service = env

    async def down(*args: Any, **kwargs: Any) -> None:
        raise DatabaseUnavailable("the database write failed")

    assert service.placements is not None
    service.placements.record = down
    result = await service.place(market_buy(), Caller())
    assert result.unrecorded is OrderStatus.SUBMITTED
    assert result.order.status is OrderStatus.PENDING  # what the stored row says
    assert isinstance(result.order.id, uuid.UUID) and result.order.id in store.rows
    assert service.placing == set()


async def test_a_pending_order_is_left_to_another_live_replica_within_the_grace(
    env: Any,
) -> None:
    """Its placement may still be running on another replica (waiting for the account
    sequence's lease, say): re-placing it here would race that one (docs/scaling.md)."""
    store, exchange, row, sync = await _pending_stateful(env, tx=False)
    sync.pending_grace = datetime.now(UTC) - OLD + timedelta(minutes=1)
    sync.peers = lambda: True
    await sync.reconcile()
    assert store.rows[row.id].status is OrderStatus.PENDING and exchange.broadcasts == []
    sync.peers = lambda: False  # alone now (the other replica died): recovered at once
    await sync.reconcile()
    assert store.rows[row.id].status is OrderStatus.SUBMITTED
    assert exchange.broadcasts == [b"stateful-again"]
