"""What replicas share through PostgreSQL, each replica played by a pool of its own: worker leases
(taken over after expiry, handed over at once on release, fenced by a token), the account
sequence's one writer (two sequencers on one fake chain never collide), and the API rate-limit
buckets (request N+1 is refused whichever replica gets it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.router.unit.chain.test_sequencer import WALLET, FakeChain, _long_term
from tests.router.unit.service.test_throttle import FakeHeights

from dydx_router.chain.errors import SequenceMismatch
from dydx_router.chain.sequencer import SequenceMode, Sequencer
from dydx_router.chain.tx import SignedTx
from dydx_router.domain.errors import ChainRateLimited
from dydx_router.service.ratelimit import Rate
from dydx_router.service.throttle import BlockLimit, ChainLimits, ChainThrottle, Kind
from dydx_router.store import notify
from dydx_router.store.chain_budget import PgChainBudget
from dydx_router.store.database import create_pool
from dydx_router.store.leases import TOPIC_LEASES, PgSequenceLock, WorkerLeases
from dydx_router.store.rate_buckets import SharedRateLimiter
from dydx_router.workers.lease import LeasedGroup

pytestmark = pytest.mark.integration


@pytest.fixture
async def other_pool(database_url: str) -> AsyncIterator[Any]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


def _name() -> str:
    return f"workers:test-{uuid.uuid4()}"


async def test_a_dead_holders_lease_moves_after_expiry_with_a_new_token(
    db_pool: Any, other_pool: Any
) -> None:
    a, b = WorkerLeases(db_pool), WorkerLeases(other_pool)
    name = _name()
    token = await a.acquire(name, "a", 0.5)
    assert token == 1
    assert await b.acquire(name, "b", 0.5) is None  # held
    assert await a.acquire(name, "a", 0.5) == 1  # the holder renews: same token
    await asyncio.sleep(0.7)  # "a" died: no renewal
    assert await b.acquire(name, "b", 0.5) == 2
    # "a" wakes up from a pause: its renewal is refused, the token moved on.
    assert not await a.renew(name, "a", 1, 0.5)
    assert await b.renew(name, "b", 2, 0.5)


async def test_a_released_lease_is_taken_at_once(db_pool: Any, other_pool: Any) -> None:
    a, b = WorkerLeases(db_pool), WorkerLeases(other_pool)
    name = _name()
    assert await a.acquire(name, "a", 60) == 1
    assert await b.acquire(name, "b", 60) is None
    await a.release(name, "a")
    assert await b.acquire(name, "b", 60) == 2
    held = await b.holders()
    assert held[name] == ("b", 2, True)


class CountingChain(FakeChain):
    """The fake chain, counting sdk/32 answers (each one a replica that lost a race)."""

    mismatches: int = 0

    async def broadcast(self, signed: SignedTx) -> str:
        try:
            return await super().broadcast(signed)
        except SequenceMismatch:
            self.mismatches += 1
            raise


async def test_two_replicas_share_the_account_sequence_without_a_mismatch(
    db_pool: Any, other_pool: Any
) -> None:
    chain = CountingChain(sequence=7)
    address = f"dydx1test{uuid.uuid4().hex[:12]}"

    def replica(pool: Any, name: str) -> Sequencer:
        return Sequencer(
            chain, WALLET, address, chain_id="localdydxprotocol",
            mode=SequenceMode.ACCOUNT_SEQUENCE, sequence_lock=PgSequenceLock(pool, name),
        )  # fmt: skip

    one, two = replica(db_pool, "one"), replica(other_pool, "two")
    sent = await asyncio.gather(*(s.send([_long_term(i)]) for i in range(12) for s in (one, two)))
    assert sorted(r.sequence for r in sent) == list(range(7, 31))
    assert chain.accepted == list(range(7, 31))
    assert chain.mismatches == 0  # never a race lost to the other replica
    # Each replica read its account number once; after the first tx the sequence was handed over.
    assert chain.account_calls == 2
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT next_sequence, token FROM sequence_leases WHERE address = $1", address
        )
    assert (row["next_sequence"], row["token"]) == (31, 24)


async def test_request_n_plus_one_is_refused_whichever_replica_gets_it(
    db_pool: Any, other_pool: Any
) -> None:
    rates = {"trade": Rate(0.01, 5)}
    a = SharedRateLimiter(db_pool, rates, local_only=frozenset(), timeout_s=5)
    b = SharedRateLimiter(other_pool, rates, local_only=frozenset(), timeout_s=5)
    who = uuid.uuid4()
    waits = [await (a if i % 2 else b).acquire(who, "trade") for i in range(5)]
    assert waits == [0.0] * 5
    assert await a.acquire(who, "trade") > 0
    assert await b.acquire(who, "trade") > 0
    assert await a.acquire(uuid.uuid4(), "trade") == 0.0  # another key has its own bucket


class _Worker:
    def __init__(self) -> None:
        self.running = False

    async def run(self) -> None:
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False


async def _until(cond: Any, within: float) -> float:
    start = asyncio.get_running_loop().time()
    while not cond():
        assert asyncio.get_running_loop().time() - start < within
        await asyncio.sleep(0.02)
    return asyncio.get_running_loop().time() - start


async def test_leased_workers_run_on_one_replica_and_move_when_it_dies(
    db_pool: Any, other_pool: Any
) -> None:
    name = _name()
    wa, wb = _Worker(), _Worker()
    a = LeasedGroup(WorkerLeases(db_pool), name, "a", {"w": wa.run}, ttl_s=1.0)
    b = LeasedGroup(WorkerLeases(other_pool), name, "b", {"w": wb.run}, ttl_s=1.0)
    ta = asyncio.create_task(a.run())
    await _until(lambda: wa.running, 5)
    tb = asyncio.create_task(b.run())
    await asyncio.sleep(1.5)  # longer than the TTL: a renews, b stays on standby
    assert wa.running and not wb.running and not b.held
    ta.cancel()  # a dies without releasing
    with contextlib.suppress(asyncio.CancelledError):
        await ta
    assert not wa.running
    await _until(lambda: wb.running, 5)  # after the TTL, b takes over
    assert b.token == 2
    tb.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tb


async def test_a_replica_shutting_down_hands_its_workers_over_at_once(
    database_url: str, db_pool: Any, other_pool: Any
) -> None:
    """With a 60 s TTL, only the release (and its NOTIFY) can move the lease within seconds."""
    name = _name()
    wa, wb = _Worker(), _Worker()
    a = LeasedGroup(WorkerLeases(db_pool), name, "a", {"w": wa.run}, ttl_s=60)
    b = LeasedGroup(WorkerLeases(other_pool), name, "b", {"w": wb.run}, ttl_s=60)
    listener = notify.Listener(database_url)
    listener.subscribe(TOPIC_LEASES, b.wake)
    tl = asyncio.create_task(listener.run())
    await asyncio.wait_for(listener.connected.wait(), 10)
    ta = asyncio.create_task(a.run())
    await _until(lambda: wa.running, 5)
    tb = asyncio.create_task(b.run())
    await asyncio.sleep(0.3)
    assert not wb.running
    ta.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ta
    await a.release()
    await _until(lambda: wb.running, 10)  # far sooner than the 60 s TTL (or b's 15 s poll)
    for t in (tb, tl):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def test_the_chains_block_budget_holds_across_replicas(db_pool: Any, other_pool: Any) -> None:
    """Two stateful orders per block for the account, whichever replica sends them; a replica
    whose view of the height trails counts at the newest height another one counted at."""
    address = f"dydx1budget{uuid.uuid4().hex[:10]}"
    limits = ChainLimits(stateful_orders=(BlockLimit(2, 1),))

    def replica(pool: Any, heights: FakeHeights) -> ChainThrottle:
        return ChainThrottle(
            heights, limits=limits, max_wait_s=0, slack_blocks=0,
            shared=PgChainBudget(pool, address),
        )  # fmt: skip

    a = replica(db_pool, FakeHeights(100))
    b = replica(other_pool, FakeHeights(99))  # trails by a block
    await a.admit(Kind.PLACE_STATEFUL)
    await b.admit(Kind.PLACE_STATEFUL)
    with pytest.raises(ChainRateLimited):
        await b.admit(Kind.PLACE_STATEFUL)
    with pytest.raises(ChainRateLimited):
        await a.admit(Kind.PLACE_STATEFUL)


async def test_usage_reports_the_shared_bucket(db_pool: Any, other_pool: Any) -> None:
    rates = {"trade": Rate(0.001, 5)}
    a = SharedRateLimiter(db_pool, rates, local_only=frozenset(), timeout_s=5)
    b = SharedRateLimiter(other_pool, rates, local_only=frozenset(), timeout_s=5)
    who = uuid.uuid4()
    for _ in range(3):
        await a.acquire(who, "trade")
    await b.acquire(who, "trade")
    assert round(b.usage(who)["trade"][1]) == 1  # the other replica's three takes counted


class _CountingPool:
    """The pool, counting the connections taken (one per statement round of the limiter)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.acquired = 0

    def acquire(self, **kwargs: Any) -> Any:
        self.acquired += 1
        return self._pool.acquire(**kwargs)


async def test_concurrent_requests_of_a_key_take_their_tokens_together_and_exactly(
    db_pool: Any, other_pool: Any
) -> None:
    rates = {"trade": Rate(0.001, 30)}
    counted = _CountingPool(db_pool)
    a = SharedRateLimiter(counted, rates, local_only=frozenset(), timeout_s=5)
    b = SharedRateLimiter(other_pool, rates, local_only=frozenset(), timeout_s=5)
    who = uuid.uuid4()
    waits = await asyncio.gather(*(a.acquire(who, "trade") for _ in range(20)))
    assert waits == [0.0] * 20
    # One statement for the first request, one group take for the 19 that queued behind it.
    assert counted.acquired == 2
    # The other replica sees the 20 taken: 10 left, then every further request is refused,
    # the groups that cannot be granted whole asked about one request at a time.
    waits = await asyncio.gather(
        *(b.acquire(who, "trade") for _ in range(8)), *(a.acquire(who, "trade") for _ in range(8))
    )
    assert sum(w == 0.0 for w in waits) == 10
    assert all(w > 0 for w in waits if w != 0.0)
    async with db_pool.acquire() as conn:
        left = await conn.fetchval("SELECT tokens FROM rate_buckets WHERE key = $1", f"trade:{who}")
    assert 0 <= left < 1
