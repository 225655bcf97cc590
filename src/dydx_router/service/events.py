"""The push stream's fan-out: one hub per process reads the event log once and hands each event
to the streams (``GET /v1/events``) that may see it.

The hub is woken by PostgreSQL's notification (a trigger notifies in the writer's transaction,
so it arrives at commit) and polls as a backstop for notifications lost while its listener
reconnects. On each wake it sequences what was committed (``store/events.py``); the statement
that numbers the rows returns them, so the hub reads nothing more. Every stream holds a bounded
queue: a stream that falls more than ``queue_max`` events behind is dropped with a
``slow_reader`` error rather than growing without bound; its client resumes from its
``Last-Event-ID``, read from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from dydx_router.domain.errors import EventsExpired, UnknownEventId
from dydx_router.domain.events import StoredEvent
from dydx_router.service.orders import Caller

log = structlog.get_logger(__name__)
READ_BATCH = 500


__all__ = ["EventHub", "EventsExpired", "SlowReader", "Subscription", "UnknownEventId"]


class Subscription:
    def __init__(
        self,
        caller: Caller,
        *,
        market: str | None,
        order_id: uuid.UUID | None,
        start: int,
        queue_max: int,
    ) -> None:
        self.caller = caller
        self.market = market
        self.order_id = order_id
        # The hub's position when the stream subscribed: older events come from the table.
        self.start = start
        self.queue: deque[StoredEvent] = deque()
        self.queue_max = queue_max
        self.overflowed = False
        self.ready = asyncio.Event()

    def wants(self, e: StoredEvent) -> bool:
        """Visible to the caller (as ``Caller.sees`` an order) and within the filters.
        The trading state concerns every order: always delivered."""
        if e.kind == "trading_state":
            return True
        c = self.caller
        if c.subaccounts is not None and e.subaccount_number not in c.subaccounts:
            return False
        if not (c.all_orders or e.api_key_id == c.api_key_id):
            return False
        if self.market is not None and e.market != self.market:
            return False
        return self.order_id is None or e.order_id == self.order_id

    def offer(self, e: StoredEvent) -> None:
        if self.overflowed or not self.wants(e):
            return
        if len(self.queue) >= self.queue_max:
            self.overflowed = True
            self.queue.clear()  # the memory goes now; the client resumes from the table
        else:
            self.queue.append(e)
        self.ready.set()


class EventHub:
    def __init__(
        self,
        uow: Callable[[], Any],
        *,
        retention_s: float,
        poll_s: float = 1.0,
        prune_every_s: float = 60.0,
        queue_max: int = 1000,
    ) -> None:
        self._uow = uow
        self.retention_s = retention_s
        self.poll_s = poll_s
        self.prune_every_s = prune_every_s
        self.queue_max = queue_max
        self.last_id: int | None = None
        self._subs: set[Subscription] = set()
        # Who may see an order or fill event: the streams of keys that see every order, and the
        # others by the key whose orders they see. An event is offered to those only, so its cost
        # does not grow with the streams that cannot see it (a thousand agents' idle streams).
        self._everyone: set[Subscription] = set()
        self._by_key: dict[uuid.UUID | None, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._pruned_at = time.monotonic()

    def wake(self) -> None:
        self._wake.set()

    @property
    def streams(self) -> int:
        return len(self._subs)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.step()
                if time.monotonic() - self._pruned_at >= self.prune_every_s:
                    await self.prune()
            except (OSError, TimeoutError) as e:  # OSError: DatabaseUnavailable
                log.warning("events_hub_failed", error=str(e) or type(e).__name__)

    async def step(self) -> None:
        """Sequence what was committed, then hand every new event to the streams.

        One statement numbers the new rows and returns them (with any another replica numbered
        meanwhile); they are handed out once that transaction has committed, when their ids are
        visible to every reader. Four round trips a wake: BEGIN, the lock, the statement, COMMIT
        (the ids' commit is flushed: an id handed out is never given again after a crash)."""
        async with self._uow() as tx:
            if self.last_id is None:
                self.last_id = (await tx.events.bounds())[1]
            fresh = await tx.events.sequence_and_read(self.last_id, limit=READ_BATCH)
            await tx.commit(more=False)
        for e in fresh:
            if e.id <= self.last_id:
                continue
            if e.id != self.last_id + 1:
                # More were numbered elsewhere than one read brings: the rest from the table.
                await self._read_from_table()
                return
            self._deliver(e)
        if len(fresh) >= READ_BATCH:
            # Those numbered elsewhere may have filled the read: the rest, if any, from the table.
            await self._read_from_table()

    async def _read_from_table(self) -> None:
        assert self.last_id is not None
        async with self._uow() as tx:
            while True:
                batch = await tx.events.after(self.last_id, limit=READ_BATCH)
                for e in batch:
                    self._deliver(e)
                if len(batch) < READ_BATCH:
                    break

    def _deliver(self, e: StoredEvent) -> None:
        self.last_id = e.id
        for sub in self._audience(e):
            sub.offer(e)

    async def prune(self) -> int:
        self._pruned_at = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_s)
        async with self._uow() as tx:
            deleted: int = await tx.events.prune(cutoff)
            await tx.commit()
        if deleted:
            log.info("events_pruned", deleted=deleted)
        return deleted

    async def ready(self) -> int:
        """The hub's position, reading the log's newest id first if it has not yet run."""
        if self.last_id is None:
            async with self._uow() as tx:
                if self.last_id is None:
                    self.last_id = (await tx.events.bounds())[1]
        return self.last_id

    async def check_resume(self, last_event_id: int) -> None:
        async with self._uow() as tx:
            lo, hi = await tx.events.bounds()
        if last_event_id > max(hi, self.last_id or 0):
            raise UnknownEventId(
                f"event id {last_event_id} was never issued", last_event_id=last_event_id
            )
        if lo and last_event_id < lo - 1:
            raise EventsExpired(
                f"events after {last_event_id} are older than the retention window "
                f"(oldest kept: {lo})",
                last_event_id=last_event_id,
            )

    async def subscribe(
        self, caller: Caller, *, market: str | None = None, order_id: uuid.UUID | None = None
    ) -> Subscription:
        """Start buffering the caller's live events (``stream`` reads them)."""
        start = await self.ready()
        sub = Subscription(
            caller, market=market, order_id=order_id, start=start, queue_max=self.queue_max
        )
        self._subs.add(sub)
        if caller.all_orders:
            self._everyone.add(sub)
        else:
            self._by_key.setdefault(caller.api_key_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        self._everyone.discard(sub)
        mine = self._by_key.get(sub.caller.api_key_id)
        if mine is not None:
            mine.discard(sub)
            if not mine:
                del self._by_key[sub.caller.api_key_id]

    def _audience(self, e: StoredEvent) -> Iterable[Subscription]:
        """The streams that may want ``e`` (each still checks its filters)."""
        if e.kind == "trading_state":
            return self._subs
        mine = self._by_key.get(e.api_key_id)
        return self._everyone if not mine else (*self._everyone, *mine)

    async def stream(
        self,
        caller: Caller,
        *,
        last_event_id: int | None,
        market: str | None = None,
        order_id: uuid.UUID | None = None,
        sub: Subscription | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Every event the caller may see after ``last_event_id`` (None: from the moment of
        subscribing), in id order, each once. Raises EventsExpired when the table no longer
        holds what followed it, and SlowReader when the stream's queue overflowed."""
        if sub is None:
            sub = await self.subscribe(caller, market=market, order_id=order_id)
        start = sub.start
        try:
            last = start if last_event_id is None else last_event_id
            # Catch up from the table up to where the live queue starts. Ids are gap-free:
            # a jump means the retention window deleted what the client missed.
            while last < sub.start:
                async with self._uow() as tx:
                    batch = await tx.events.after(last, limit=READ_BATCH)
                if not batch or batch[0].id != last + 1:
                    raise EventsExpired(f"events after {last} are no longer kept")
                for e in batch:
                    if e.id > sub.start:
                        break
                    last = e.id
                    if sub.wants(e):
                        yield e
            while True:
                await sub.ready.wait()
                sub.ready.clear()
                if sub.overflowed:
                    raise SlowReader(f"the stream fell {self.queue_max} events behind")
                while sub.queue:
                    e = sub.queue.popleft()
                    if e.id > last:
                        last = e.id
                        yield e
        finally:
            self.unsubscribe(sub)


class SlowReader(Exception):
    """The client read more slowly than events arrived; its stream is closed."""
