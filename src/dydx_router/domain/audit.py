"""Does a stored order agree with the chain? One pure comparison, for the audit command and tests.

The chain's view of an order is what the indexer reports for it (status and total filled size),
read after the node's and the indexer's heights, so the heights bound what the report can miss.
The rules (dydxprotocol/v4-chain ``indexer/services/``):

- An unfilled short-term order never reaches the indexer's Postgres (vulcan only updates rows
  that exist, ``vulcan/src/handlers/order-remove-handler.ts``; comlink merges Redis and Postgres,
  ``comlink/src/request-helpers/request-transformer.ts``): once cancelled or expired it is absent
  (404); a filled one stays. Stateful orders stay once placed (ender writes them from blocks).
- ``BEST_EFFORT_OPENED`` / ``BEST_EFFORT_CANCELED`` are optimistic: a short-term order's outcome is
  final only once the chain is past its good-til-block (a cancel is best effort until then, and
  the indexer never finalizes a ``BEST_EFFORT_CANCELED`` row).
- Once the indexer itself is past an order's expiry, no fill of it can still arrive.

A stored status **disagrees** when the chain contradicts it; it is **indeterminate** when the
chain cannot decide it yet (the order is in flight: nothing on the chain and its expiry not yet
passed, or it changed within ``grace``, or its expiry passed so recently that the router is still
allowed to record it). Only a disagreement is a fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from dydx_router.domain.market import format_decimal
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.sync import VenueOrder, VenueStatus, is_expired

_S = OrderStatus
_V = VenueStatus
RESTING = frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.UNTRIGGERED})
# Statuses that wait for the chain to say what became of the order.
AWAITING = frozenset({_S.PENDING, _S.SUBMITTED, _S.UNKNOWN})
LIVE_ON_VENUE = frozenset({_V.OPEN, _V.BEST_EFFORT_OPENED, _V.UNTRIGGERED})


class Verdict(StrEnum):
    AGREES = "agrees"
    DISAGREES = "disagrees"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True, slots=True)
class ChainView:
    """What the chain shows of one order, and when.

    ``venue`` is the indexer's order (None: 404). ``node_height`` and ``indexer_height`` /
    ``indexer_time`` were read before ``venue``; ``observed_at`` is the wall clock at the read.
    """

    venue: VenueOrder | None
    node_height: int
    indexer_height: int
    indexer_time: datetime
    observed_at: datetime
    #: The node's height read again *after* ``venue`` (None: not read; ``node_height`` then).
    #: An order absent from the indexer may have left the chain between the two reads.
    node_height_after: int | None = None


@dataclass(frozen=True, slots=True)
class AuditRules:
    #: An order whose stored row changed this recently is never called wrong: the chain's view
    #: (the indexer's REST) may trail the router's (the stream) by this much.
    grace: timedelta = timedelta(seconds=10)
    #: Blocks past a short-term order's good-til-block (and ``grace`` past a stateful order's
    #: good-til-time) within which the router may still be recording its expiry.
    expiry_blocks: int = 10


DEFAULT_RULES = AuditRules()


@dataclass(frozen=True, slots=True)
class Finding:
    verdict: Verdict
    reason: str
    chain: str  # what the chain shows, e.g. "FILLED 0.002" or "absent"


def describe(venue: VenueOrder | None) -> str:
    if venue is None:
        return "absent"
    return f"{venue.status.value} {format_decimal(venue.total_filled)}"


def compare(order: Order, chain: ChainView, rules: AuditRules = DEFAULT_RULES) -> Finding:
    """Whether ``order`` as stored (status and filled size) agrees with ``chain``."""
    verdict, reason = _judge(order, chain, rules)
    if verdict is Verdict.DISAGREES and order.updated_at is not None:
        age = chain.observed_at - order.updated_at
        if age < rules.grace:
            verdict = Verdict.INDETERMINATE
            reason += f" (changed {age.total_seconds():.1f} s ago: the chain's view may trail)"
    return Finding(verdict, reason, describe(chain.venue))


def _judge(order: Order, chain: ChainView, rules: AuditRules) -> tuple[Verdict, str]:
    venue = chain.venue
    status = order.status
    on_chain = venue.total_filled if venue is not None else Decimal(0)
    if order.filled_size != on_chain:
        stored = f"stored {status} with {_fmt(order.filled_size)} filled"
        if venue is None:
            return _no(f"{stored}; the indexer has no such order")
        return _no(f"{stored}; the chain has {_fmt(on_chain)} filled")
    expired = is_expired(order, chain.node_height, chain.observed_at)
    if status is _S.FILLED:
        if venue is not None and venue.status is _V.FILLED:
            return _yes("filled")
        return _no("stored FILLED; the chain shows it not filled")
    if status is _S.REJECTED:
        if venue is None:
            return _yes("rejected: the chain has no such order")
        return _no("stored REJECTED, but the chain has the order")
    if status in (_S.CANCELED, _S.EXPIRED):
        return _removed(order, chain, expired)
    if status is _S.CANCEL_REQUESTED:
        return _cancel_requested(order, chain, expired, rules)
    if status in RESTING:
        return _resting(order, chain, expired, rules)
    return _awaiting(order, chain, expired, rules)


def _removed(order: Order, chain: ChainView, expired: bool) -> tuple[Verdict, str]:
    venue, status = chain.venue, order.status
    if status is _S.EXPIRED and not expired:
        return _no("stored EXPIRED before its expiry")
    if venue is None:
        if order.is_short_term:
            return _yes("removed: an unfilled short-term order leaves the indexer")
        return _no(f"stored {status}; the indexer has no such stateful order")
    if venue.status is _V.FILLED:
        return _no(f"stored {status}, but the chain filled it")
    if venue.status is _V.CANCELED:
        return _yes("removed")
    if venue.status is _V.BEST_EFFORT_CANCELED:
        if expired:
            return _yes("best-effort cancel, final at expiry")
        return _no("stored CANCELED while the cancel is best effort (it may still fill)")
    if venue.status in LIVE_ON_VENUE:
        if not expired:
            return _no(f"stored {status}, but the order rests on the chain")
        if is_expired(order, chain.indexer_height, chain.indexer_time):
            return _yes("expired; the indexer is past its expiry")
        return _maybe(
            f"expired, and the indexer (at {chain.indexer_height}) may still report a fill"
        )
    return _maybe(f"the indexer reports {venue.status}")


def _cancel_requested(
    order: Order, chain: ChainView, expired: bool, rules: AuditRules
) -> tuple[Verdict, str]:
    venue = chain.venue
    if venue is not None and venue.status is _V.FILLED:
        return _no("stored CANCEL_REQUESTED, but the chain filled it")
    if venue is not None and venue.status is _V.CANCELED:
        return _no("stored CANCEL_REQUESTED, but the chain removed it")
    if expired:
        return _overdue(order, chain, rules, "CANCELED")
    if venue is None:
        if order.is_short_term:
            return _yes("cancel requested: the order left the indexer")
        return _no("stored CANCEL_REQUESTED; the indexer has no such stateful order")
    if venue.status is _V.BEST_EFFORT_CANCELED:
        return _yes("cancel requested, best effort until expiry")
    return _no("stored CANCEL_REQUESTED, but the order still rests on the chain")


def _resting(
    order: Order, chain: ChainView, expired: bool, rules: AuditRules
) -> tuple[Verdict, str]:
    venue, status = chain.venue, order.status
    if expired:
        return _overdue(order, chain, rules, "EXPIRED")
    if venue is None:
        if _left_at_expiry(order, chain):
            return _overdue(order, chain, rules, "EXPIRED")
        return _no(f"stored {status}; the indexer has no such order")
    if venue.status not in LIVE_ON_VENUE:
        return _no(f"stored {status}, but the order no longer rests on the chain")
    if (status is _S.UNTRIGGERED) != (venue.status is _V.UNTRIGGERED):
        return _no(f"stored {status}, the chain has it {venue.status}")
    if status is not _S.UNTRIGGERED:
        expected = _S.PARTIALLY_FILLED if order.filled_size > 0 else _S.OPEN
        if status is not expected:
            return _no(f"stored {status} with {_fmt(order.filled_size)} filled")
    return _yes("resting")


def _awaiting(
    order: Order, chain: ChainView, expired: bool, rules: AuditRules
) -> tuple[Verdict, str]:
    if chain.venue is not None:
        return _no(f"stored {order.status}, but the chain has the order")
    if expired:
        return _overdue(order, chain, rules, "EXPIRED or REJECTED")
    return _maybe("in flight: not on the chain yet, its expiry not passed")


def _left_at_expiry(order: Order, chain: ChainView) -> bool:
    """A short-term order leaves the book when the block of its good-til-block commits (it can
    match in no later block: x/clob/abci.go PrepareCheckState purges expired orders), which may
    have happened between the height read and the indexer read."""
    after = chain.node_height if chain.node_height_after is None else chain.node_height_after
    gtb = order.good_til_block
    return order.is_short_term and gtb is not None and after >= gtb


def _overdue(order: Order, chain: ChainView, rules: AuditRules, should: str) -> tuple[Verdict, str]:
    """The order is past its expiry: final now, unless the router may still be recording it."""
    if order.is_short_term:
        gtb = order.good_til_block or 0
        late = chain.node_height - gtb > rules.expiry_blocks
        when = f"good-til-block {gtb} (the chain is at {chain.node_height})"
    else:
        gtbt = order.good_til_block_time
        late = gtbt is not None and chain.observed_at - gtbt > rules.grace
        when = f"good-til-time {gtbt.isoformat() if gtbt else '?'}"
    if late:
        return _no(f"stored {order.status} past its {when}; should be {should}")
    return _maybe(f"just past its {when}: the router may still be recording it")


def _fmt(value: Decimal) -> str:
    return format_decimal(value)


def _yes(reason: str) -> tuple[Verdict, str]:
    return Verdict.AGREES, reason


def _no(reason: str) -> tuple[Verdict, str]:
    return Verdict.DISAGREES, reason


def _maybe(reason: str) -> tuple[Verdict, str]:
    return Verdict.INDETERMINATE, reason
