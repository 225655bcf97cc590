"""Latest block height, refreshed in the background, and good-til-block computation.

Short-term orders and cancels carry a good-til-block (GTB) that CheckTx accepts only in
[H+1, H+1+ShortBlockWindow] where H is the last committed height and ShortBlockWindow = 40
(``protocol/x/clob/types/constants.go``, ``keeper/orders.go`` validateGoodTilBlock). Intermittent
window errors in other integrations came from stale heights (dydxprotocol/v4-clients #105, #173), so
the cache refuses to answer when its height is older than ``max_age`` and every GTB is checked
against the window before it is used.

The height comes from polling the node (:meth:`HeightCache.run`) and/or from the indexer's
``v4_block_height`` stream (:meth:`HeightCache.observe`); it never goes backwards, so a lagging
source cannot pull it down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from dydx_router.chain.errors import ChainError, GoodTilBlockOutOfWindow, HeightUnknown
from dydx_router.domain.windows import SHORT_BLOCK_WINDOW

log = structlog.get_logger(__name__)


def validate_good_til_block(good_til_block: int, latest_height: int) -> None:
    """Raise unless ``latest_height + 1 <= good_til_block <= latest_height + 1 + W``, W the
    chain's ShortBlockWindow (`dydx_router.domain.windows`)."""
    low, high = latest_height + 1, latest_height + 1 + SHORT_BLOCK_WINDOW
    if not low <= good_til_block <= high:
        raise GoodTilBlockOutOfWindow(
            f"good-til-block {good_til_block} is outside the chain's window [{low}, {high}] "
            f"at height {latest_height}",
            good_til_block=good_til_block,
            latest_height=latest_height,
        )


def validate_offset(offset: int) -> int:
    """A GTB offset (blocks ahead of the latest height) that can be valid at all: 1..41."""
    if not 1 <= offset <= SHORT_BLOCK_WINDOW + 1:
        raise ValueError(
            f"good-til-block offset must be between 1 and {SHORT_BLOCK_WINDOW + 1} blocks "
            f"(ShortBlockWindow {SHORT_BLOCK_WINDOW}); got {offset}"
        )
    return offset


class HeightCache:
    """The freshest known block height, with a staleness bound."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[int]] | None = None,
        *,
        poll_interval: float = 1.0,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._poll_interval = poll_interval
        self._max_age = max_age
        self._clock = clock
        self._height: int | None = None
        self._block_time: datetime | None = None
        self._updated_at = 0.0
        self._changed = asyncio.Event()

    def observe(self, height: int, block_time: datetime | None = None) -> None:
        """Record a height seen by any source; older heights only refresh the timestamp."""
        if self._height is None or height >= self._height:
            if height != self._height:
                self._changed.set()
            self._height = height
            self._block_time = block_time or self._block_time
        self._updated_at = self._clock()

    @property
    def height(self) -> int:
        """The latest height; ``HeightUnknown`` if none yet or older than ``max_age``."""
        if self._height is None:
            raise HeightUnknown("no block height known yet")
        age = self._clock() - self._updated_at
        if age > self._max_age:
            raise HeightUnknown(
                f"the latest known height {self._height} is {age:.1f} s old "
                f"(limit {self._max_age:g} s)"
            )
        return self._height

    @property
    def block_time(self) -> datetime | None:
        return self._block_time

    def good_til_block(self, offset: int) -> int:
        """``height + offset``, checked against the short block window."""
        height = self.height
        gtb = height + validate_offset(offset)
        validate_good_til_block(gtb, height)
        return gtb

    def check(self, good_til_block: int) -> None:
        """Check an explicit GTB (e.g. a cancel's) against the current window."""
        validate_good_til_block(good_til_block, self.height)

    async def refresh(self) -> int:
        if self._fetch is None:
            raise HeightUnknown("this height cache has no source to poll")
        self.observe(await self._fetch())
        return self.height

    async def wait_for_height(self, height: int, *, within: float) -> int:
        """Wait until the cache has seen ``height`` (driven by ``run`` or ``observe``)."""
        async with asyncio.timeout(within):
            while self._height is None or self._height < height:
                self._changed.clear()
                await self._changed.wait()
        return self._height

    async def run(self) -> None:
        """Poll the source forever (a background task owned by the app lifespan)."""
        while True:
            try:
                await self.refresh()
            except ChainError as e:
                log.warning("height_refresh_failed", error=str(e), code=e.code)
            await asyncio.sleep(self._poll_interval)
