"""The cancel's good-til-block: one rule for the single cancel (chain/gateway.py) and the batch
cancel (service/orders.py)."""

from __future__ import annotations

from dydx_router.domain.windows import SHORT_BLOCK_WINDOW, cancel_good_til_block


def test_a_cancel_outlives_every_order_it_cancels() -> None:
    assert cancel_good_til_block(100, [105, 120, None]) == 120


def test_a_cancel_is_good_from_the_next_block_at_least() -> None:
    # An order already past its good-til-block (or without one) still gets a valid cancel.
    assert cancel_good_til_block(100, [90]) == 101
    assert cancel_good_til_block(100, [None]) == 101
    assert cancel_good_til_block(100, []) == 101


def test_a_cancel_never_goes_beyond_the_short_block_window() -> None:
    assert SHORT_BLOCK_WINDOW == 40
    assert cancel_good_til_block(100, [500]) == 100 + SHORT_BLOCK_WINDOW
