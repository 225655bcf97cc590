"""HeightCache: freshness, monotonicity, and good-til-block window checks (v4-chain
protocol/x/clob/types/constants.go ShortBlockWindow, keeper/orders.go validateGoodTilBlock)."""

import asyncio

import pytest

from dydx_router.chain.errors import ChainUnavailable, GoodTilBlockOutOfWindow, HeightUnknown
from dydx_router.chain.height import HeightCache, validate_good_til_block, validate_offset


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_height_yet_is_a_retryable_error() -> None:
    with pytest.raises(HeightUnknown) as exc:
        HeightCache().height  # noqa: B018
    assert exc.value.retryable


def test_stale_height_is_refused() -> None:
    clock = Clock()
    cache = HeightCache(max_age=5, clock=clock)
    cache.observe(100)
    clock.now += 4
    assert cache.height == 100
    clock.now += 2
    with pytest.raises(HeightUnknown, match=r"6\.0 s old"):
        cache.good_til_block(10)


def test_height_never_goes_backwards_but_a_lagging_source_keeps_it_fresh() -> None:
    clock = Clock()
    cache = HeightCache(max_age=5, clock=clock)
    cache.observe(100)
    clock.now += 4
    cache.observe(98)  # e.g. the indexer, a couple of blocks behind the node
    clock.now += 4
    assert cache.height == 100


def test_good_til_block_is_height_plus_offset_within_the_window() -> None:
    cache = HeightCache()
    cache.observe(1000)
    assert cache.good_til_block(20) == 1020
    assert cache.good_til_block(41) == 1041  # H + 1 + ShortBlockWindow is still valid
    with pytest.raises(ValueError, match="between 1 and 41"):
        cache.good_til_block(42)
    with pytest.raises(ValueError, match="between 1 and 41"):
        validate_offset(0)


@pytest.mark.parametrize(("gtb", "ok"), [(100, False), (101, True), (141, True), (142, False)])
def test_window_bounds(gtb: int, ok: bool) -> None:
    if ok:
        validate_good_til_block(gtb, 100)
    else:
        with pytest.raises(GoodTilBlockOutOfWindow, match=r"\[101, 141\]"):
            validate_good_til_block(gtb, 100)


def test_explicit_good_til_block_is_checked_against_the_cache() -> None:
    cache = HeightCache()
    cache.observe(500)
    cache.check(510)
    with pytest.raises(GoodTilBlockOutOfWindow):
        cache.check(499)


async def test_background_polling_and_waiting() -> None:
    heights = iter([10, 11, 12, 13])
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ChainUnavailable("node down for a moment")  # logged, polling continues
        return next(heights)

    cache = HeightCache(fetch, poll_interval=0.01)
    task = asyncio.create_task(cache.run())
    try:
        assert await cache.wait_for_height(12, within=2) >= 12
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert cache.height >= 12
