"""The chain's time windows for orders, and the good-til-block a cancel needs. Pure.

ShortBlockWindow and StatefulOrderTimeWindow: `protocol/x/clob/types/constants.go`. A short-term
order's (or cancel's) good-til-block must lie in [H+1, H+1+ShortBlockWindow], H the last committed
height (`protocol/x/clob/ante/clob.go`, ErrHeightExceedsGoodTilBlock / clob/11
ErrGoodTilBlockExceedsShortBlockWindow).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

SHORT_BLOCK_WINDOW = 40
STATEFUL_ORDER_TIME_WINDOW = timedelta(days=95)


def cancel_good_til_block(height: int, order_good_til_blocks: Iterable[int | None]) -> int:
    """The good-til-block of a short-term cancel of orders with these good-til-blocks, at
    ``height``: at least each order's, so that the cancel outlives what it removes (a cancel
    whose good-til-block is lower than the order's does not remove it:
    `protocol/x/clob/memclob/memclob.go` CancelOrder), and never beyond the short block window."""
    wanted = max([g or 0 for g in order_good_til_blocks] + [height + 1])
    return min(wanted, height + SHORT_BLOCK_WINDOW)
