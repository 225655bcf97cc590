"""The outbound limiter against the chain's block rate limits, with a hand-driven height."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from dydx_router.domain.errors import ChainRateLimited
from dydx_router.service.throttle import BlockLimit, ChainLimits, ChainThrottle, Kind


class FakeHeights:
    def __init__(self, height: int = 100) -> None:
        self._height = height
        self._changed = asyncio.Event()

    @property
    def height(self) -> int:
        return self._height

    def advance(self, n: int = 1) -> None:
        self._height += n
        self._changed.set()

    async def wait_for_height(self, height: int, *, within: float) -> int:
        async with asyncio.timeout(within):
            while self._height < height:
                self._changed.clear()
                await self._changed.wait()
        return self._height


LIMITS = ChainLimits(
    short_term_orders_and_cancels=(BlockLimit(10, 5),),
    stateful_orders=(BlockLimit(2, 1), BlockLimit(20, 100)),
)


def throttle(heights: FakeHeights, **kw: object) -> ChainThrottle:
    return ChainThrottle(heights, limits=LIMITS, **kw)  # type: ignore[arg-type]


async def test_the_allowance_is_used_then_refused_with_retry_after() -> None:
    t = throttle(FakeHeights(), max_wait_s=0, slack_blocks=0)
    for _ in range(10):
        await t.admit(Kind.PLACE_SHORT_TERM)
    with pytest.raises(ChainRateLimited) as info:
        await t.admit(Kind.PLACE_SHORT_TERM)
    assert info.value.code == "chain_rate_limited"
    assert info.value.details["frees_at_height"] == 105  # the window of 5 blocks slides past 100
    assert info.value.details["retry_after_s"] >= 1


async def test_cancels_share_the_short_term_allowance_and_batches_weigh_two() -> None:
    t = throttle(FakeHeights(), max_wait_s=0, slack_blocks=0)
    for _ in range(4):
        await t.admit(Kind.CANCEL_SHORT_TERM, weight=2)
    await t.admit(Kind.PLACE_SHORT_TERM)
    await t.admit(Kind.CANCEL_SHORT_TERM)
    with pytest.raises(ChainRateLimited):
        await t.admit(Kind.PLACE_SHORT_TERM)
    # Stateful orders have their own limits: 2 per block.
    await t.admit(Kind.PLACE_STATEFUL)
    await t.admit(Kind.PLACE_STATEFUL)
    with pytest.raises(ChainRateLimited):
        await t.admit(Kind.PLACE_STATEFUL)


async def test_the_window_slides_with_the_height_and_the_slack_widens_it() -> None:
    heights = FakeHeights()
    t = throttle(heights, max_wait_s=0, slack_blocks=1)
    for _ in range(10):
        await t.admit(Kind.PLACE_SHORT_TERM)
    heights.advance(5)  # 105: the chain's window (101..105] no longer holds 100...
    with pytest.raises(ChainRateLimited):
        await t.admit(Kind.PLACE_SHORT_TERM)  # ...but ours, one block wider, still does
    heights.advance(1)
    await t.admit(Kind.PLACE_SHORT_TERM)


async def test_a_full_window_waits_for_the_block_that_frees_it() -> None:
    heights = FakeHeights()
    t = throttle(heights, max_wait_s=5, slack_blocks=0)
    for _ in range(10):
        await t.admit(Kind.PLACE_SHORT_TERM)
    waiting = asyncio.create_task(t.admit(Kind.PLACE_SHORT_TERM))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    heights.advance(4)
    await asyncio.sleep(0.01)
    assert not waiting.done()  # 104: 100 is still inside (100..104]
    heights.advance(1)
    await asyncio.wait_for(waiting, 1)


async def test_share_divides_the_allowance_between_replicas() -> None:
    t = throttle(FakeHeights(), max_wait_s=0, slack_blocks=0, share=0.5)
    for _ in range(5):
        await t.admit(Kind.PLACE_SHORT_TERM)
    with pytest.raises(ChainRateLimited):
        await t.admit(Kind.PLACE_SHORT_TERM)


async def test_never_more_than_the_chain_counts_in_any_window() -> None:
    """Many admissions over many blocks: every chain window holds at most the limit."""
    heights = FakeHeights()
    t = throttle(heights, max_wait_s=0, slack_blocks=0)
    counted: dict[int, int] = {}
    for step in range(400):
        try:
            await t.admit(Kind.PLACE_SHORT_TERM)
            counted[heights.height] = counted.get(heights.height, 0) + 1
        except ChainRateLimited:
            pass
        if step % 7 == 0:
            heights.advance()
    for h in counted:
        assert sum(c for bh, c in counted.items() if h - 5 < bh <= h) <= 10
    assert sum(counted.values()) >= 100  # and the allowance is actually used


def test_limits_from_the_node_drop_disabled_entries() -> None:
    class Item:
        def __init__(self, limit: int, num_blocks: int) -> None:
            self.limit, self.num_blocks = limit, num_blocks

    class Config:
        short_term_orders = (Item(0, 1),)
        short_term_cancels = ()
        short_term_orders_and_cancels = (Item(2000, 5),)
        stateful_orders = (Item(2, 1), Item(20, 100))

    limits = ChainLimits.of(Config())
    assert limits.short_term_orders == ()
    assert limits.short_term_orders_and_cancels == (BlockLimit(2000, 5),)


class InMemoryShared:
    """A fake of the shared counts (``store/chain_budget.py`` in production)."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[int, int]] = {}
        self.locked_calls = 0

    @contextlib.asynccontextmanager
    async def locked(self, floor: int) -> AsyncIterator[dict[str, dict[int, int]]]:
        self.locked_calls += 1
        yield self.counts


async def test_with_replicas_short_term_uses_its_share_and_stateful_the_shared_counts() -> None:
    """Three live replicas: each admits a third of the short-term allowance from memory (the hot
    path takes no lock), while stateful placements are counted in the shared counts."""
    shared = InMemoryShared()
    t = throttle(FakeHeights(), max_wait_s=0, slack_blocks=0, shared=shared, replicas=lambda: 3)
    for _ in range(3):  # floor(10 / 3)
        await t.admit(Kind.PLACE_SHORT_TERM)
    with pytest.raises(ChainRateLimited):
        await t.admit(Kind.PLACE_SHORT_TERM)
    assert shared.locked_calls == 0
    other = throttle(FakeHeights(), max_wait_s=0, slack_blocks=0, shared=shared)
    await other.admit(Kind.PLACE_STATEFUL)
    await t.admit(Kind.PLACE_STATEFUL)
    with pytest.raises(ChainRateLimited):  # 2 per block, whichever replica
        await t.admit(Kind.PLACE_STATEFUL)
    assert shared.counts["stateful_orders"] == {100: 2}
