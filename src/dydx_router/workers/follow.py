"""Which subaccounts the status stream follows: every one the router has open orders on.

The indexer's ``v4_subaccounts`` channel is per subaccount. Following only the configured default
left the orders of every other subaccount to the reconciler's full pass (every 300 s): a cancelled
resting order on subaccount 1 stayed CANCEL_REQUESTED until its good-til-block passed. So:

- at start-up, every subaccount with a non-final order in the store is followed, with the
  default one;
- a placement on a subaccount not followed yet follows it before its broadcast
  (``OrderService.follow``), so the venue's reports of that order arrive on the stream;
- every ``interval_s`` a subaccount without non-final orders (and not newly followed) is
  unfollowed, so that a client spraying subaccounts does not grow the subscription set forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection

import structlog

from dydx_router.chain.stream import IndexerStream

log = structlog.get_logger(__name__)

PRUNE_INTERVAL_S = 60.0


class SubaccountFollower:
    def __init__(
        self,
        stream: IndexerStream,
        address: str,
        default: int,
        open_subaccounts: Callable[[], Awaitable[Collection[int]]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._address = address
        self._default = default
        self._open = open_subaccounts
        self._clock = clock
        # When each followed subaccount was last asked for (a placement or the store).
        self._touched: dict[int, float] = {}
        self.follow(default)

    @property
    def followed(self) -> list[int]:
        return sorted(self._touched)

    def follow(self, number: int) -> None:
        """Follow ``number`` (no I/O here: the stream subscribes in the background)."""
        self._touched[number] = self._clock()
        if self._stream.follow(self._address, number):
            log.info("subaccount_followed", subaccount=number)

    async def load(self) -> None:
        """Follow every subaccount that has open orders in the store."""
        for number in await self._open():
            self.follow(number)

    async def prune(self, idle_s: float) -> None:
        """Follow every subaccount with open orders; unfollow those without any that no placement
        asked for within ``idle_s``."""
        open_now = set(await self._open())
        now = self._clock()
        for number in open_now:
            self.follow(number)
        for number, touched in list(self._touched.items()):
            if number == self._default or number in open_now or now - touched < idle_s:
                continue
            del self._touched[number]
            self._stream.unfollow(self._address, number)
            log.info("subaccount_unfollowed", subaccount=number)

    async def run(self, interval_s: float = PRUNE_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.prune(idle_s=interval_s)
            except OSError as e:  # DatabaseUnavailable: keep following what is followed
                log.warning("subaccount_prune_failed", error=str(e))
