"""Several validators in process: gossip held back by hand, so that each case meets exactly the
interleaving it names. What a block commits, what the other validators keep, and what the
indexer's node (validator 0) tells the indexer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.devnet.unit.txkit import BUY, IOC, SELL, Chain, cancel, codes, order, order_id

from dydx_devnet.events import (
    EventBatch,
    Fill,
    OrderPlaced,
    OrderRemoved,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.model import OrderId as ModelOrderId
from dydx_devnet.model import SubaccountId
from dydx_devnet.tx import tx_hash


class Net:
    """Chain with three validators (market makers on) whose gossip runs only when asked."""

    def __init__(self) -> None:
        self.chain = Chain.create(market_makers=True, validators=3)
        self.gossip: list[Callable[[], None]] = []
        self.chain.engine.schedule = self.gossip.append
        self.sub = self.chain.bus.subscribe()

    def deliver_gossip(self) -> None:
        pending, self.gossip[:] = list(self.gossip), []
        for g in pending:
            g()

    def align(self, proposer: int) -> None:
        """Commit (empty) blocks until the next one is ``proposer``'s."""
        engine = self.chain.engine
        while engine.proposer(engine.state.height + 1).index != proposer:
            engine.commit_block()

    def commit_by(self, proposer: int) -> int:
        """Commit the next block, which must be ``proposer``'s."""
        engine = self.chain.engine
        assert engine.proposer(engine.state.height + 1).index == proposer
        return engine.commit_block()

    def send(self, validator: int, tx: bytes) -> tuple[str, int]:
        return codes(self.chain.engine.broadcast(validator, tx))

    def batches(self) -> list[EventBatch]:
        return self.sub.drain()


@pytest.fixture
def net() -> Net:
    return Net()


def _model_id(oid: object) -> ModelOrderId:
    return ModelOrderId(
        SubaccountId(oid.subaccount_id.owner, oid.subaccount_id.number),  # type: ignore[attr-defined]
        oid.client_id,  # type: ignore[attr-defined]
        oid.order_flags,  # type: ignore[attr-defined]
        oid.clob_pair_id,  # type: ignore[attr-defined]
    )


def test_an_order_matched_by_two_validators_is_filled_once_by_the_chain(net: Net) -> None:
    c = net.chain
    w = c.funded(1)
    worst = c.oracle_subticks() * 105 // 100 // 100_000 * 100_000
    msg = order(order_id(w, 1), side=BUY, quantums=10_000_000, subticks=worst, gtb=c.gtb(), tif=IOC)
    a = c.tx(w, msg)
    b = c.tx(w, msg, memo="other bytes")
    net.align(0)
    net.batches()
    assert net.send(0, a) == ("", 0)  # matches in validator 0's memclob
    assert net.send(1, b) == ("", 0)  # and, before gossip, in validator 1's
    net.commit_by(0)
    net.deliver_gossip()
    net.commit_by(1)
    net.commit_by(2)
    fills = [
        e
        for batch in net.batches()
        if batch.block is not None
        for e in batch.events
        if isinstance(e, Fill) and e.taker.subaccount_id.owner == w.address
    ]
    assert sum(f.quantums for f in fills) == 10_000_000
    assert {f.tx_hash for f in fills} == {tx_hash(a)}
    sub = c.state.subaccount(w.address, 0)
    assert sub is not None and sub.perpetual_positions[0].quantums == 10_000_000
    assert all(not v.mempool for v in c.engine.validators)
    # every validator's view agrees with the chain
    for v in c.engine.validators:
        view = v.state.subaccount(w.address, 0)
        assert view is not None and view.perpetual_positions[0].quantums == 10_000_000


def test_a_proposer_includes_only_what_has_reached_it(net: Net) -> None:
    c = net.chain
    w = c.funded(2)
    net.align(1)
    tx = c.tx(w, order(order_id(w, 2), side=SELL, subticks=9_000_000_000, gtb=c.gtb(20)))
    assert net.send(0, tx) == ("", 0)
    h = net.commit_by(1)  # validator 1 has not received it
    assert c.engine.blocks[h].operations == ()
    assert [t.hash for t in c.engine.validators[0].mempool] == [tx_hash(tx)]
    net.deliver_gossip()
    assert all(v.mempool for v in c.engine.validators)
    h = net.commit_by(2)
    assert c.engine.blocks[h].operations == (tx_hash(tx),)
    assert c.state.open_order(_model_id(order_id(w, 2))) is not None


def test_the_indexer_node_announces_an_order_it_learns_from_the_block(net: Net) -> None:
    c = net.chain
    w = c.funded(3)
    oid = order_id(w, 3)
    net.align(1)
    tx = c.tx(w, order(oid, side=SELL, subticks=9_000_000_000, gtb=c.gtb(20)))
    net.batches()
    assert net.send(1, tx) == ("", 0)
    assert not net.batches()  # validator 1 is not the indexer's node
    net.commit_by(1)  # before gossip reaches validator 0
    placed = [
        e
        for batch in net.batches()
        if batch.block is None
        for e in batch.events
        if isinstance(e, OrderPlaced) and e.order.order_id == _model_id(oid)
    ]
    assert [p.status for p in placed] == [PlacementStatus.BEST_EFFORT_OPENED]
    net.deliver_gossip()
    # validator 0's memclob has it from the block: the gossiped copy is not a valid replacement
    assert c.engine.validators[0].mempool == []
    assert codes(c.engine.validators[0].check_tx(tx)) == ("sdk", 19)  # cached by the gossip


def test_a_cancel_learnt_from_the_block_removes_the_order_for_the_indexer(net: Net) -> None:
    c = net.chain
    w = c.funded(4)
    oid = order_id(w, 4)
    net.align(1)
    gtb = c.gtb(20)
    place = c.tx(w, order(oid, side=SELL, subticks=9_000_000_000, gtb=gtb))
    assert net.send(0, place) == ("", 0)
    assert net.send(1, c.tx(w, cancel(oid, gtb=gtb))) == ("", 0)  # an unknown order's cancel
    net.batches()
    net.commit_by(1)  # the cancel is committed; the order never reached validator 1
    removed = [
        e
        for batch in net.batches()
        if batch.block is None
        for e in batch.events
        if isinstance(e, OrderRemoved) and e.order_id == _model_id(oid)
    ]
    assert [(r.reason, r.status) for r in removed] == [
        (RemovalReason.USER_CANCELED, RemovalStatus.BEST_EFFORT_CANCELED)
    ]
    assert c.engine.validators[0].mempool == []  # its replay met the cancel (clob/7)
    assert c.state.open_order(_model_id(oid)) is None


def test_a_stateful_tx_in_two_validators_is_delivered_once(net: Net) -> None:
    c = net.chain
    w = c.funded(5, usdc="1000000")
    net.align(1)
    msg = order(order_id(w, 5, flags=64), side=SELL, subticks=9_000_000_000, gtbt=c.gtbt())
    a = c.tx(w, msg, sequence=0)
    b = c.tx(w, msg, sequence=0, memo="b")
    assert net.send(0, a) == ("", 0)
    assert net.send(1, b) == ("", 0)
    net.deliver_gossip()  # each meets the other's check state: sdk/32, not kept
    assert [t.hash for t in c.engine.validators[2].mempool] == [tx_hash(a)]
    net.commit_by(1)
    net.commit_by(2)
    net.commit_by(0)
    delivered = [
        h for blk in c.engine.blocks.values() for h in blk.txs if h in (tx_hash(a), tx_hash(b))
    ]
    assert delivered == [tx_hash(b)]
    assert c.sequence(w) == 1
    assert all(not v.mempool for v in c.engine.validators)
    # committed: in every validator's cache
    assert all(codes(v.check_tx(b)) == ("sdk", 19) for v in c.engine.validators)
