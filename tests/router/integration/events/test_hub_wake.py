"""The hub's wake on a real PostgreSQL: the rows the sequencer numbers are handed out from the
numbering statement itself (no second read, four round trips a wake), and two replicas' hubs
numbering in turn each deliver every event once, in id order, including the ones the other
numbered (more than one read's worth, too)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dydx_router.service.events import EventHub
from dydx_router.service.orders import Caller
from dydx_router.store.events import EventRepository
from dydx_router.store.uow import UnitOfWorkFactory
from tests.router.integration.events.test_hub import KEY_A, place, running, take

pytestmark = pytest.mark.integration


class CountingPool:
    """The pool, logging every statement its connections send (BEGIN and COMMIT included)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.statements: list[str] = []

    def _log(self, record: Any) -> None:
        self.statements.append(" ".join(record.query.split())[:60])

    async def acquire(self, **kwargs: Any) -> Any:
        conn = await self._pool.acquire(**kwargs)
        conn.add_query_logger(self._log)
        return conn

    async def release(self, conn: Any) -> None:
        conn.remove_query_logger(self._log)
        await self._pool.release(conn)

    async def expire_connections(self) -> None:
        await self._pool.expire_connections()


async def test_a_wake_hands_out_what_it_numbered_without_reading_it_again(
    clean_db: Any,
) -> None:
    async with running(clean_db) as live:
        mine = live.stream(Caller(api_key_id=KEY_A), last_event_id=None)
        got = asyncio.ensure_future(take(mine, 2))
        await asyncio.sleep(0.1)
        counting = CountingPool(clean_db)
        hub = EventHub(UnitOfWorkFactory(counting), retention_s=3600)
        await hub.ready()
        for sub in list(live._subs):  # the stream, moved to the counted hub
            live.unsubscribe(sub)
            await hub.subscribe(sub.caller)
        (sub,) = hub._subs
        await place(clean_db, 1)
        counting.statements.clear()
        await hub.step()
        assert [e.payload["status"] for e in sub.queue] == ["PENDING", "SUBMITTED"]
        # BEGIN, the advisory lock, the numbering statement (which returns the rows), COMMIT.
        assert len(counting.statements) == 4, counting.statements
        assert counting.statements[0] == "BEGIN;" and counting.statements[-1] == "COMMIT;"
        got.cancel()


@pytest.mark.parametrize("numbered_elsewhere", [1, 3, 12])
async def test_two_replicas_numbering_in_turn_each_deliver_everything_once(
    clean_db: Any, numbered_elsewhere: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small read: more numbered by the other replica than one statement brings back.
    monkeypatch.setattr("dydx_router.service.events.READ_BATCH", 4)
    async with clean_db.acquire() as conn:
        await conn.execute(
            "INSERT INTO api_keys (id, name, key_hash, key_prefix, scopes) "
            "VALUES ($1, 'k', $2, 'dxr_', ARRAY['read'])",
            KEY_A,
            KEY_A.bytes + KEY_A.bytes,
        )
    a = EventHub(UnitOfWorkFactory(clean_db), retention_s=3600)
    b = EventHub(UnitOfWorkFactory(clean_db), retention_s=3600)
    await a.ready(), await b.ready()
    on_a = await a.subscribe(Caller(all_orders=True))
    on_b = await b.subscribe(Caller(all_orders=True))
    n = 0
    for _ in range(3):
        # Replica B's sequencer (here: the repository under the lock) numbers some events,
        # then more are written that replica A numbers itself on its next wake.
        for _ in range(numbered_elsewhere):
            n += 1
            await place(clean_db, n)
        async with clean_db.acquire() as conn, conn.transaction():
            await EventRepository(conn).sequence()
        n += 1
        await place(clean_db, n)
        await a.step()
        await b.step()
    ids_a = [e.id for e in on_a.queue]
    ids_b = [e.id for e in on_b.queue]
    assert ids_a == ids_b == list(range(1, 2 * n + 1))  # 2 events per order, each once, in order
    assert a.last_id == b.last_id == 2 * n
