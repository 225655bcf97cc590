"""The event hub on a real PostgreSQL: order of events, exactly-once resume after a disconnect,
what a key may see, filters, the retention error and the slow reader."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dydx_router.domain.events import StoredEvent
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.risk import TradingState
from dydx_router.service.events import EventHub, EventsExpired, SlowReader, UnknownEventId
from dydx_router.service.orders import Caller
from dydx_router.store.uow import UnitOfWorkFactory
from tests.router.integration.store.test_orders_repository import make_order

pytestmark = pytest.mark.integration
KEY_A, KEY_B = uuid.uuid4(), uuid.uuid4()


@contextlib.asynccontextmanager
async def running(pool: Any, **kwargs: Any) -> AsyncIterator[EventHub]:
    async with pool.acquire() as conn:
        for key in (KEY_A, KEY_B):
            await conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, key_prefix, scopes) "
                "VALUES ($1, 'k', $2, 'dxr_', ARRAY['read'])",
                key,
                key.bytes + key.bytes,
            )
    hub = EventHub(UnitOfWorkFactory(pool), retention_s=3600, poll_s=0.05, **kwargs)
    await hub.ready()
    task = asyncio.create_task(hub.run())
    try:
        yield hub
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def place(pool: Any, n: int, key: uuid.UUID = KEY_A, market: str = "BTC-USD") -> Order:
    order = make_order(n, api_key_id=key, market=market, status=OrderStatus.PENDING)
    async with UnitOfWorkFactory(pool)() as uow:
        await uow.orders.add(order, reason="accepted")
        await uow.commit()
        await uow.orders.transition(order, OrderStatus.SUBMITTED, reason="checktx ok")
        await uow.commit()
    return order


async def take(stream: AsyncIterator[StoredEvent], n: int, within: float = 10) -> list[Any]:
    out: list[StoredEvent] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(stream))
    return out


async def test_events_arrive_in_order_and_resume_exactly_once(clean_db: Any) -> None:
    caller = Caller(api_key_id=KEY_A)
    async with running(clean_db) as hub:
        stream = hub.stream(caller, last_event_id=None)
        first = asyncio.ensure_future(take(stream, 4))
        await asyncio.sleep(0.1)  # subscribed
        a, b = await place(clean_db, 1), await place(clean_db, 2)
        got = await first
        assert [(e.order_id, e.payload["status"]) for e in got] == [
            (a.id, "PENDING"),
            (a.id, "SUBMITTED"),
            (b.id, "PENDING"),
            (b.id, "SUBMITTED"),
        ]
        ids = [e.id for e in got]
        assert ids == sorted(ids) and len(set(ids)) == 4
        # The client drops after the second event; more happens while it is away.
        await stream.aclose()
        c = await place(clean_db, 3)
        resumed = hub.stream(caller, last_event_id=ids[1])
        more = await take(resumed, 4)
        assert [e.id for e in more[:2]] == ids[2:]  # nothing missed, nothing twice
        assert [(e.order_id, e.payload["status"]) for e in more[2:]] == [
            (c.id, "PENDING"),
            (c.id, "SUBMITTED"),
        ]
        d = await place(clean_db, 4)  # and live after the catch-up
        live = await take(resumed, 2)
        assert [e.order_id for e in live] == [d.id, d.id]
        assert [e.id for e in more + live] == list(range(ids[2], ids[2] + 6))
        await resumed.aclose()


async def test_a_key_sees_only_its_own_orders_but_every_trading_state(clean_db: Any) -> None:
    async with running(clean_db) as hub:
        b_stream = hub.stream(Caller(api_key_id=KEY_B), last_event_id=0)
        all_stream = hub.stream(Caller(api_key_id=KEY_B, all_orders=True), last_event_id=0)
        a = await place(clean_db, 1, KEY_A)
        async with UnitOfWorkFactory(clean_db)() as uow:
            await uow.trading_state.set(TradingState.HALTED, "drill", None)
            await uow.commit()
        b = await place(clean_db, 2, KEY_B)
        mine = await take(b_stream, 3)
        assert [(e.kind, e.order_id) for e in mine] == [
            ("trading_state", None),
            ("order", b.id),
            ("order", b.id),
        ]
        everything = await take(all_stream, 5)
        assert [e.order_id for e in everything if e.kind == "order"] == [a.id, a.id, b.id, b.id]
        # A key limited to other subaccounts sees none of them, even with orders:all.
        other = hub.stream(
            Caller(api_key_id=KEY_A, subaccounts=frozenset({7}), all_orders=True),
            last_event_id=0,
        )
        assert [e.kind for e in await take(other, 1)] == ["trading_state"]
        with pytest.raises(TimeoutError):
            await take(other, 1, within=0.5)


async def test_filters_by_market_and_order(clean_db: Any) -> None:
    async with running(clean_db) as hub:
        a = await place(clean_db, 1, market="BTC-USD")
        await place(clean_db, 2, market="ETH-USD")
        eth = hub.stream(Caller(api_key_id=KEY_A), last_event_id=0, market="ETH-USD")
        assert {e.market for e in await take(eth, 2)} == {"ETH-USD"}
        one = hub.stream(Caller(api_key_id=KEY_A), last_event_id=0, order_id=a.id)
        assert {e.order_id for e in await take(one, 2)} == {a.id}
        with pytest.raises(TimeoutError):
            await take(one, 1, within=0.5)


async def test_a_resume_point_past_retention_is_an_error_not_silence(clean_db: Any) -> None:
    async with running(clean_db) as hub:
        for i in range(3):
            await place(clean_db, i + 1)
        await hub.step()
        await hub.check_resume(0)  # everything still kept
        hub.retention_s = 0.0
        assert await hub.prune() == 5  # all but the newest
        with pytest.raises(EventsExpired):
            await hub.check_resume(0)
        await hub.check_resume(5)  # the newest is kept: resuming from just before it is fine
        with pytest.raises(UnknownEventId):
            await hub.check_resume(99)
        # Pruned between the check and the read: the stream says so.
        with pytest.raises(EventsExpired):
            await take(hub.stream(Caller(api_key_id=KEY_A), last_event_id=1), 1)


async def test_a_slow_reader_is_bounded_then_closed(clean_db: Any) -> None:
    async with running(clean_db, queue_max=3) as hub:
        stream = hub.stream(Caller(api_key_id=KEY_A), last_event_id=None)
        first = asyncio.ensure_future(take(stream, 1))
        await asyncio.sleep(0.1)
        await place(clean_db, 1)
        await first  # one read; the client then stops reading
        for i in range(3):
            await place(clean_db, i + 2)
        await asyncio.sleep(0.3)
        (sub,) = hub._subs
        assert sub.overflowed and len(sub.queue) == 0  # memory released at the bound
        with pytest.raises(SlowReader):
            await take(stream, 10)
        assert hub.streams == 0


async def test_the_hub_prunes_on_its_own(clean_db: Any) -> None:
    async with running(clean_db) as hub:
        await place(clean_db, 1)
        await hub.step()
        hub.retention_s, hub.prune_every_s = 0.0, 0.0
        async with asyncio.timeout(5):
            while True:
                async with clean_db.acquire() as conn:
                    if await conn.fetchval("SELECT count(*) FROM events") == 1:
                        break
                await asyncio.sleep(0.05)


async def test_an_event_costs_only_the_streams_that_may_see_it(
    clean_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thousand agents' streams that cannot see an order event are not even asked: the cost
    of an event follows its audience, not the number of open streams."""
    from dydx_router.service.events import Subscription

    asked: list[Subscription] = []
    wants = Subscription.wants
    monkeypatch.setattr(Subscription, "wants", lambda s, e: asked.append(s) or wants(s, e))
    async with running(clean_db) as hub:
        others = [await hub.subscribe(Caller(api_key_id=uuid.uuid4())) for _ in range(1000)]
        mine = hub.stream(Caller(api_key_id=KEY_A), last_event_id=None)
        everything = hub.stream(Caller(all_orders=True), last_event_id=None)
        got = asyncio.ensure_future(take(mine, 2))
        seen_all = asyncio.ensure_future(take(everything, 2))
        await asyncio.sleep(0.1)
        await place(clean_db, 1)
        assert len(await got) == 2 and len(await seen_all) == 2
        assert len(asked) == 4  # 2 events x (the key's stream + the all-orders one)
        assert all(not s.queue for s in others)
        # Unsubscribed streams leave the index.
        for s in others:
            hub.unsubscribe(s)
        assert hub.streams == 2 and set(hub._by_key) == {KEY_A}
