"""The audit's comparison of a stored order with the chain, over every stored status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.domain.audit import AuditRules, ChainView, Verdict, compare
from dydx_router.domain.market import Side
from dydx_router.domain.order import Order, OrderFlags, OrderStatus, OrderType, TimeInForce
from dydx_router.domain.sync import VenueOrder, VenueStatus

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
GTB = 100  # a short-term order's good-til-block
GTBT = NOW + timedelta(hours=1)  # a stateful order's good-til-time
S, V = OrderStatus, VenueStatus
AGREES, DISAGREES, MAYBE = Verdict.AGREES, Verdict.DISAGREES, Verdict.INDETERMINATE


def order(status: OrderStatus, filled: str = "0", stateful: bool = False, **kw: Any) -> Order:
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "market": "BTC-USD",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "time_in_force": TimeInForce.GTT,
        "size": Decimal("1"),
        "price": Decimal("100"),
        "quantums": 1,
        "subticks": 1,
        "client_id": 1,
        "order_flags": OrderFlags.LONG_TERM if stateful else OrderFlags.SHORT_TERM,
        "clob_pair_id": 0,
        "address": "dydx1x",
        "subaccount_number": 0,
        "indexer_order_id": uuid.uuid4(),
        "status": status,
        "filled_size": Decimal(filled),
        "good_til_block": None if stateful else GTB,
        "good_til_block_time": GTBT if stateful else None,
        "updated_at": NOW - timedelta(minutes=1),
    }
    base.update(kw)
    return Order(**base)


def chain(
    venue: tuple[VenueStatus, str] | None,
    node: int = 50,
    indexer: int | None = None,
    at: datetime = NOW,
) -> ChainView:
    seen = None if venue is None else VenueOrder(venue[0], Decimal(venue[1]))
    return ChainView(seen, node, node if indexer is None else indexer, at, at)


@dataclass(frozen=True)
class Case:
    name: str
    order: Order
    chain: ChainView
    verdict: Verdict


LATE = GTB + 20  # past the good-til-block by more than the rules' expiry_blocks (10)
JUST = GTB + 5  # past it, within expiry_blocks
AFTER_GTBT = GTBT + timedelta(minutes=5)

CASES = [
    # FILLED: only a filled order on the chain with the same size.
    Case("filled/filled", order(S.FILLED, "1"), chain((V.FILLED, "1")), AGREES),
    Case("filled/open", order(S.FILLED, "1"), chain((V.OPEN, "0")), DISAGREES),
    Case("filled/fill sizes", order(S.FILLED, "1"), chain((V.FILLED, "0.5")), DISAGREES),
    Case("filled/absent", order(S.FILLED, "1"), chain(None), DISAGREES),
    # REJECTED: the chain must not have the order.
    Case("rejected/absent", order(S.REJECTED), chain(None), AGREES),
    Case("rejected/resting", order(S.REJECTED), chain((V.BEST_EFFORT_OPENED, "0")), DISAGREES),
    Case("rejected/filled", order(S.REJECTED), chain((V.FILLED, "1")), DISAGREES),
    # CANCELED.
    Case("canceled/canceled", order(S.CANCELED), chain((V.CANCELED, "0")), AGREES),
    Case("canceled/partial", order(S.CANCELED, "0.3"), chain((V.CANCELED, "0.3")), AGREES),
    Case("canceled/absent short-term", order(S.CANCELED), chain(None), AGREES),
    Case("canceled/absent stateful", order(S.CANCELED, stateful=True), chain(None), DISAGREES),
    Case("canceled/resting", order(S.CANCELED), chain((V.BEST_EFFORT_OPENED, "0")), DISAGREES),
    Case(
        "canceled/resting stateful",
        order(S.CANCELED, stateful=True),
        chain((V.OPEN, "0")),
        DISAGREES,
    ),
    Case("canceled/filled", order(S.CANCELED), chain((V.FILLED, "1")), DISAGREES),
    Case(
        "canceled/best effort before expiry",
        order(S.CANCELED),
        chain((V.BEST_EFFORT_CANCELED, "0")),
        DISAGREES,
    ),
    Case(
        "canceled/best effort after expiry",
        order(S.CANCELED),
        chain((V.BEST_EFFORT_CANCELED, "0"), node=GTB + 1),
        AGREES,
    ),
    # EXPIRED.
    Case("expired/before its block", order(S.EXPIRED), chain(None), DISAGREES),
    Case("expired/absent", order(S.EXPIRED), chain(None, node=GTB + 1), AGREES),
    Case("expired/canceled", order(S.EXPIRED), chain((V.CANCELED, "0"), node=LATE), AGREES),
    Case("expired/filled", order(S.EXPIRED), chain((V.FILLED, "1"), node=LATE), DISAGREES),
    Case(
        "expired/partial, indexer past expiry",
        order(S.EXPIRED, "0.4"),
        chain((V.OPEN, "0.4"), node=JUST, indexer=GTB + 1),
        AGREES,
    ),
    Case(
        "expired/partial, indexer behind expiry",
        order(S.EXPIRED, "0.4"),
        chain((V.OPEN, "0.4"), node=JUST, indexer=GTB - 1),
        MAYBE,
    ),
    Case(
        "expired/stateful after its time",
        order(S.EXPIRED, stateful=True),
        chain((V.CANCELED, "0"), at=AFTER_GTBT),
        AGREES,
    ),
    Case(
        "expired/stateful before its time",
        order(S.EXPIRED, stateful=True),
        chain((V.CANCELED, "0")),
        DISAGREES,
    ),
    # CANCEL_REQUESTED: honest while the cancel is in flight and the order can still fill.
    Case(
        "cancel requested/best effort",
        order(S.CANCEL_REQUESTED),
        chain((V.BEST_EFFORT_CANCELED, "0")),
        AGREES,
    ),
    Case("cancel requested/absent short-term", order(S.CANCEL_REQUESTED), chain(None), AGREES),
    Case(
        "cancel requested/absent stateful",
        order(S.CANCEL_REQUESTED, stateful=True),
        chain(None),
        DISAGREES,
    ),
    Case(
        "cancel requested/still resting",
        order(S.CANCEL_REQUESTED, stateful=True),
        chain((V.OPEN, "0")),
        DISAGREES,
    ),
    Case(
        "cancel requested/canceled",
        order(S.CANCEL_REQUESTED, stateful=True),
        chain((V.CANCELED, "0")),
        DISAGREES,
    ),
    Case("cancel requested/filled", order(S.CANCEL_REQUESTED), chain((V.FILLED, "1")), DISAGREES),
    Case(
        "cancel requested/just expired",
        order(S.CANCEL_REQUESTED),
        chain((V.BEST_EFFORT_CANCELED, "0"), node=JUST),
        MAYBE,
    ),
    Case(
        "cancel requested/long expired",
        order(S.CANCEL_REQUESTED),
        chain((V.BEST_EFFORT_CANCELED, "0"), node=LATE),
        DISAGREES,
    ),
    # OPEN / PARTIALLY_FILLED / UNTRIGGERED: resting on the chain with the same fills.
    Case("open/best effort opened", order(S.OPEN), chain((V.BEST_EFFORT_OPENED, "0")), AGREES),
    Case("open/open", order(S.OPEN, stateful=True), chain((V.OPEN, "0")), AGREES),
    Case("open/absent", order(S.OPEN), chain(None), DISAGREES),
    Case("open/canceled", order(S.OPEN, stateful=True), chain((V.CANCELED, "0")), DISAGREES),
    Case("open/filled", order(S.OPEN), chain((V.FILLED, "1")), DISAGREES),
    Case("open/untriggered", order(S.OPEN, stateful=True), chain((V.UNTRIGGERED, "0")), DISAGREES),
    Case("open/just expired", order(S.OPEN), chain((V.OPEN, "0"), node=JUST), MAYBE),
    Case("open/long expired", order(S.OPEN), chain(None, node=LATE), DISAGREES),
    Case(
        "open/stateful long expired",
        order(S.OPEN, stateful=True),
        chain((V.CANCELED, "0"), at=AFTER_GTBT),
        DISAGREES,
    ),
    Case("partial/partial", order(S.PARTIALLY_FILLED, "0.4"), chain((V.OPEN, "0.4")), AGREES),
    Case(
        "partial/more filled", order(S.PARTIALLY_FILLED, "0.4"), chain((V.OPEN, "0.6")), DISAGREES
    ),
    Case("partial/nothing filled", order(S.PARTIALLY_FILLED), chain((V.OPEN, "0")), DISAGREES),
    Case("open/partially filled", order(S.OPEN, "0.4"), chain((V.OPEN, "0.4")), DISAGREES),
    Case(
        "untriggered/untriggered",
        order(S.UNTRIGGERED, stateful=True),
        chain((V.UNTRIGGERED, "0")),
        AGREES,
    ),
    Case(
        "untriggered/triggered",
        order(S.UNTRIGGERED, stateful=True),
        chain((V.OPEN, "0")),
        DISAGREES,
    ),
    # PENDING / SUBMITTED / UNKNOWN: in flight until the chain shows the order or its expiry.
    *[
        c
        for s in (S.PENDING, S.SUBMITTED, S.UNKNOWN)
        for c in (
            Case(f"{s}/absent", order(s), chain(None), MAYBE),
            Case(f"{s}/absent stateful", order(s, stateful=True), chain(None), MAYBE),
            Case(f"{s}/resting", order(s), chain((V.BEST_EFFORT_OPENED, "0")), DISAGREES),
            Case(f"{s}/filled", order(s), chain((V.FILLED, "1")), DISAGREES),
            Case(f"{s}/just expired", order(s), chain(None, node=JUST), MAYBE),
            Case(f"{s}/long expired", order(s), chain(None, node=LATE), DISAGREES),
            Case(
                f"{s}/stateful long expired",
                order(s, stateful=True),
                chain(None, at=AFTER_GTBT),
                DISAGREES,
            ),
        )
    ],
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_compare(case: Case) -> None:
    finding = compare(case.order, case.chain)
    assert finding.verdict is case.verdict, finding.reason
    assert finding.reason


def test_every_status_is_covered_with_an_agreement_and_a_disagreement() -> None:
    for status in OrderStatus:
        verdicts = {c.verdict for c in CASES if c.order.status is status}
        assert DISAGREES in verdicts, status
        assert (AGREES in verdicts) or (MAYBE in verdicts), status


def test_a_recent_change_is_indeterminate_not_wrong() -> None:
    rules = AuditRules(grace=timedelta(seconds=10))
    recent = order(S.SUBMITTED, updated_at=NOW - timedelta(seconds=3))
    finding = compare(recent, chain((V.FILLED, "1")), rules)
    assert finding.verdict is MAYBE and "3.0 s ago" in finding.reason
    old = order(S.SUBMITTED, updated_at=NOW - timedelta(seconds=11))
    assert compare(old, chain((V.FILLED, "1")), rules).verdict is DISAGREES
    # An agreement stays one however recent.
    fresh = order(S.FILLED, "1", updated_at=NOW)
    assert compare(fresh, chain((V.FILLED, "1")), rules).verdict is AGREES


def test_the_finding_says_what_the_chain_shows() -> None:
    finding = compare(order(S.EXPIRED), chain((V.FILLED, "1"), node=LATE))
    assert finding.chain == "FILLED 1"
    assert "filled" in finding.reason
    assert compare(order(S.OPEN), chain(None)).chain == "absent"


def test_an_order_absent_because_it_expired_between_the_reads_is_not_called_wrong() -> None:
    """The node was at GTB - 1 when read, block GTB committed (the order left the book) before
    the indexer was read: the absence is its expiry, which the router may still be recording."""
    resting = order(S.OPEN)
    view = ChainView(None, GTB - 1, GTB - 1, NOW, NOW, node_height_after=GTB)
    assert compare(resting, view).verdict is MAYBE
    # Without a later height, or still before its good-til-block: it should be on the chain.
    assert compare(resting, ChainView(None, GTB - 1, GTB - 1, NOW, NOW)).verdict is DISAGREES
    before = ChainView(None, GTB - 2, GTB - 2, NOW, NOW, node_height_after=GTB - 1)
    assert compare(resting, before).verdict is DISAGREES
