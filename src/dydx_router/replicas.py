"""The wiring of several replicas on one database (docs/scaling.md), beside the composition root
(bootstrap.py calls these): the sequencing mode, the leased status workers, the shared limits."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

from dydx_router.api.auth import AUTH_FAILURES
from dydx_router.chain.sequencer import SequenceLock, SequenceMode
from dydx_router.chain.stream import IndexerStream
from dydx_router.config import Settings
from dydx_router.service.ratelimit import Rate, RateLimiter
from dydx_router.store.chain_budget import PgChainBudget
from dydx_router.store.leases import TOPIC_LEASES, PgSequenceLock, WorkerLeases
from dydx_router.store.rate_buckets import SharedRateLimiter
from dydx_router.workers.follow import SubaccountFollower
from dydx_router.workers.lease import LeasedGroup
from dydx_router.workers.reconciler import ReconcilerWorker
from dydx_router.workers.status import StatusStreamWorker

if TYPE_CHECKING:
    from dydx_router.chain.height import HeightCache
    from dydx_router.service.sync import OrderSync
    from dydx_router.store import notify
    from dydx_router.store.uow import UnitOfWorkFactory
    from dydx_router.workers.supervisor import Supervisor

# How long a stateful send waits for another replica's hold of the account sequence.
SEQUENCE_LOCK_WAIT_S = 10.0
FOLLOW_POLL_S = 1.0


def sequencing(
    settings: Settings, pool: Any, authenticator_id: int | None
) -> tuple[SequenceMode, SequenceLock | None, int, int]:
    """(mode, the shared sequence lock or None, nonce stride, this replica's nonce offset).

    A permissioned key always uses timestamp nonces: it must never race the owner's own account
    sequence (x/accountplus)."""
    replica = settings.effective_replica_id()
    stride = settings.nonce_stride
    offset = zlib.crc32(replica.encode()) % stride
    if authenticator_id is not None or settings.sequence_mode == "timestamp_nonce":
        return SequenceMode.TIMESTAMP_NONCE, None, stride, offset
    lock = PgSequenceLock(
        pool,
        replica,
        lock_timeout_s=SEQUENCE_LOCK_WAIT_S,
        idle_timeout_s=settings.broadcast_timeout_s + SEQUENCE_LOCK_WAIT_S,
    )
    return SequenceMode.ACCOUNT_SEQUENCE, lock, stride, offset


class Presence:
    """This replica's own lease ``replica:<id>``, renewed while it runs, and how many other
    replicas hold theirs: the reconciler's grace for PENDING orders only applies while some do
    (a lone replica restarted after a crash recovers at once, as before)."""

    PREFIX = "replica:"

    def __init__(self, leases: WorkerLeases, replica: str, ttl_s: float) -> None:
        self._leases = leases
        self._replica = replica
        self._ttl = ttl_s
        self.others = 0

    def peers(self) -> bool:
        return self.others > 0

    def count(self) -> int:
        """Live replicas, this one included."""
        return self.others + 1

    async def run_once(self) -> None:
        try:
            await self._leases.acquire(self.PREFIX + self._replica, self._replica, self._ttl)
            self.others = await self._leases.others_live(self.PREFIX, self._replica)
        except Exception:  # the database is away: assume others may be placing
            self.others = max(self.others, 1)

    async def run(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self._ttl / 4)

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await self._leases.release(self.PREFIX + self._replica, self._replica)


def pending_grace_s(settings: Settings) -> float:
    """How long a PENDING order may belong to a placement still running on another replica (the
    reconciler, on whichever replica, leaves it alone that long)."""
    wait = SEQUENCE_LOCK_WAIT_S if settings.sequence_mode == "account_sequence" else 0.0
    return wait + 2 * settings.broadcast_timeout_s + settings.db_timeout_s


def chain_budget(settings: Settings, pool: Any, address: str) -> PgChainBudget | None:
    """The chain's block-rate counts in PostgreSQL, unless limits are kept per replica."""
    if settings.shared_rate_limits == "memory":
        return None
    return PgChainBudget(pool, address, timeout_s=settings.db_timeout_s)


def rate_limiter(settings: Settings, pool: Any, rates: dict[str, Rate]) -> RateLimiter:
    if settings.shared_rate_limits == "memory":
        return RateLimiter(rates)
    return SharedRateLimiter(
        pool, rates, local_only=frozenset({AUTH_FAILURES}), timeout_s=settings.db_timeout_s
    )


class StatusFeed(NamedTuple):
    """The indexer stream of our orders and what it follows, built before the order service
    (whose ``follow`` hook the follower is); the caller closes ``stream``."""

    stream: IndexerStream
    follower: SubaccountFollower


def status_feed(settings: Settings, uow: UnitOfWorkFactory, address: str) -> StatusFeed:
    stream = IndexerStream(settings.indexer_websockets)

    async def open_subaccounts() -> list[int]:
        async with uow() as tx:
            return await tx.risk.open_subaccounts(address)

    follower = SubaccountFollower(stream, address, settings.subaccount_number, open_subaccounts)
    return StatusFeed(stream, follower)


async def start_status_workers(
    settings: Settings,
    pool: Any,
    supervisor: Supervisor,
    feed: StatusFeed,
    sync: OrderSync,
    heights: HeightCache,
    address: str,
    listener: notify.Listener,
) -> tuple[StatusStreamWorker, LeasedGroup]:
    """The status stream (following every subaccount with open orders), the follower and the
    reconciler of ``address``: one group, run by the replica holding ``workers:<address>``.
    Returns the stream's worker and the group (a lease the caller releases at shutdown)."""
    uow = sync.uow
    reconcile_now = asyncio.Event()
    follower = feed.follower
    status = StatusStreamWorker(feed.stream, sync, heights, uow, reconcile_now)
    beat = supervisor.heartbeat()
    reconciler = ReconcilerWorker(
        sync, settings.reconcile_interval_s, reconcile_now, status.settled_through, heartbeat=beat
    )

    async def follow() -> None:
        # Placements on other replicas follow their subaccounts only in their own process: the
        # holder picks them up from the store every second (and prunes as before).
        loops = 0
        while True:
            await follower.load()
            await asyncio.sleep(FOLLOW_POLL_S)
            loops += 1
            if loops * FOLLOW_POLL_S >= 60:
                await follower.prune(idle_s=60)
                loops = 0

    leases = WorkerLeases(pool, timeout_s=settings.db_timeout_s)
    group = LeasedGroup(
        leases,
        f"workers:{address}",
        settings.effective_replica_id(),
        {"status-stream": status.run, "subaccount-follower": follow, "reconciler": reconciler.run},
        ttl_s=settings.worker_lease_ttl_s,
        on_standby=beat.beat,  # a standby replica's reconciler is idle, not stuck
        keep=supervisor.keep,
    )
    listener.subscribe(TOPIC_LEASES, group.wake)
    # A pass checks every awaited order against the indexer (each call under its timeout):
    # one that has not begun for this long is stuck.
    stale_after = max(120.0, 20 * settings.reconcile_interval_s)
    supervisor.spawn("worker-lease", group.run, heartbeat=beat, stale_after_s=stale_after)
    return status, group


async def start_presence(settings: Settings, pool: Any, supervisor: Supervisor) -> Presence:
    """This replica's presence lease (its count divides the short-term chain budget; its peers
    give the reconciler's PENDING grace); the caller releases it at shutdown."""
    leases = WorkerLeases(pool, timeout_s=settings.db_timeout_s)
    presence = Presence(leases, settings.effective_replica_id(), settings.worker_lease_ttl_s)
    await presence.run_once()
    supervisor.spawn("replica-presence", presence.run)
    return presence
