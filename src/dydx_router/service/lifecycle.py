"""Writes in flight, and a shutdown that lets them finish.

A placement or a cancel is a sequence that must not be cut in the middle: persist the intent →
commit → broadcast → record the outcome. :class:`WriteGate` counts the writes in flight (O(1),
no I/O); on shutdown the composition root closes it (new writes get 503 ``shutting_down``) and
waits for the count to reach zero before the chain clients and the database pool are closed.
A write cut anyway (a hard kill) leaves a PENDING or UNKNOWN row that the reconciler settles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from dydx_router.domain.errors import ShuttingDown


class WriteGate:
    def __init__(self) -> None:
        self._open = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def open(self) -> bool:
        return self._open

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Hold the gate for one write; raises :class:`ShuttingDown` once it is closed."""
        if not self._open:
            raise ShuttingDown("the service is shutting down; retry shortly", retry_after_s=1)
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def close(self) -> None:
        self._open = False

    async def drain(self, within: float) -> int:
        """Wait up to ``within`` s for the writes in flight; returns how many are left."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            pass
        return self._in_flight
