"""The composition root: the one place where real adapters are built and wired together."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import structlog

from dydx_router import replicas
from dydx_router.api.auth import AUTH_FAILURES
from dydx_router.chain.errors import ChainError
from dydx_router.chain.gateway import DydxExchange
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import NodeClient
from dydx_router.chain.observer import ChainReader
from dydx_router.chain.resilience import BreakerPolicy, HealthPolicy
from dydx_router.chain.retries import RetryPolicy
from dydx_router.chain.sequencer import Sequencer
from dydx_router.chain.wallet import Wallet, _private_key_from_mnemonic
from dydx_router.config import Settings
from dydx_router.container import Container
from dydx_router.custody import private_key_from_hex
from dydx_router.domain.audit import AuditRules
from dydx_router.domain.risk import RiskLimits, TradingState
from dydx_router.observability import metrics, redact
from dydx_router.service.admin import AdminService
from dydx_router.service.agent_limits import AgentLimitsBook, agent_limits_book
from dydx_router.service.audit import OrderAudit
from dydx_router.service.events import EventHub
from dydx_router.service.faults import FaultHolds, Step
from dydx_router.service.fills import FillRecorder
from dydx_router.service.orders import OrderService, OrderServiceConfig
from dydx_router.service.ratelimit import Rate, RateLimiter
from dydx_router.service.risk import (
    UNCONFIGURED,
    ExposureBook,
    PreTradeGate,
    RiskControls,
    controls_loader,
)
from dydx_router.service.sync import OrderSync
from dydx_router.service.throttle import ChainLimits, ChainThrottle
from dydx_router.store import notify
from dydx_router.store.batch import PlacementWriter
from dydx_router.store.database import create_pool
from dydx_router.store.key_cache import KeyCache
from dydx_router.store.readonly import ReadOnlyOrders
from dydx_router.store.uow import UnitOfWorkFactory
from dydx_router.trading_keys import check_configured
from dydx_router.workers.lease import LeasedGroup
from dydx_router.workers.monitor import HealthLimits, HealthMonitor
from dydx_router.workers.supervisor import Supervisor

log = structlog.get_logger(__name__)


async def build_container(
    settings: Settings,
    *,
    workers: bool = True,
    uow: UnitOfWorkFactory | None = None,
    exchange: DydxExchange | None = None,
) -> Container:
    """Build and start everything the API needs; the caller owns ``aclose()``. A ``uow`` or
    ``exchange`` given (a test's fake) is what every service is built over."""
    database_url = settings.require_database_url()
    wallet = Wallet(_trading_key(settings, database_url))
    pool = await create_pool(
        database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_timeout_s,
    )
    health = HealthPolicy(
        breaker=BreakerPolicy(
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout_s=settings.breaker_reset_timeout_s,
            max_reset_timeout_s=settings.breaker_max_reset_timeout_s,
        ),
        max_lag_blocks=settings.max_endpoint_lag_blocks,
    )
    retry = RetryPolicy(budget_s=settings.chain_retry_budget_s)
    node = NodeClient(
        settings.nodes,
        timeout=float(settings.node_timeout_s),
        broadcast_timeout=settings.broadcast_timeout_s,
        health=health,
        retry=retry,
    )
    indexer = IndexerClient(
        settings.indexers, timeout=float(settings.indexer_timeout_s), health=health, retry=retry
    )
    heights = HeightCache(node.latest_height)
    # A permissioned key trades for the owner, with timestamp nonces: it never races the owner's
    # own account sequence (v4-chain protocol/x/accountplus/keeper/timestampnonce.go; ante.go
    # clobAnteHandle skips IncrementSequence for timestamp-nonce txs).
    owner, auth_id = settings.owner_address or wallet.address, settings.authenticator_id
    mode, sequence_lock, stride, offset = replicas.sequencing(settings, pool, auth_id)
    sequencer = Sequencer(
        node, wallet, owner, chain_id=settings.effective_chain_id, memo=settings.memo, mode=mode,
        authenticator_id=auth_id, sequence_lock=sequence_lock, nonce_stride=stride,
        nonce_offset=offset,
    )  # fmt: skip
    exchange = exchange or DydxExchange(
        node=node,
        indexer=indexer,
        wallet=wallet,
        sequencer=sequencer,
        heights=heights,
        chain_id=settings.effective_chain_id,
        memo=settings.memo,
        order_router_address=settings.order_router_address or "",
        max_price_age_s=settings.oracle_max_age_s,
        owner_address=settings.owner_address,
        authenticator_id=auth_id,
    )
    uow = uow or UnitOfWorkFactory(pool, acquire_timeout=settings.db_timeout_s)
    # Built here, handed to the Container whole: nothing is assigned into it afterwards.
    closers: list[Callable[[], Awaitable[Any]]] = [exchange.aclose]
    supervisor = Supervisor()
    key_cache = KeyCache(acquire_timeout=settings.db_timeout_s)
    await exchange.start()
    for name, loop in exchange.background().items():
        supervisor.spawn(name, loop)
    if auth_id is not None:
        await check_configured(node, owner, auth_id, wallet)
    # Background probes of every endpoint: breakers' half-open probes, latency and height lag
    # (chain/resilience.py); the node's best height also keeps the height cache fresh.
    probe_timeout = min(settings.health_check_timeout_s, float(settings.node_timeout_s))
    supervisor.spawn(
        "node-health",
        lambda: node.monitor(
            interval=settings.health_check_interval_s,
            probe_timeout=probe_timeout,
            on_height=heights.observe,
        ),
    )
    supervisor.spawn(
        "indexer-health",
        lambda: indexer.monitor(
            interval=max(settings.health_check_interval_s, 1.0),
            probe_timeout=min(settings.health_check_timeout_s, float(settings.indexer_timeout_s)),
            chain_height=lambda: node.pool.best_height,
        ),
    )
    sec = await _security(settings, pool, uow, exchange, node, heights, supervisor)
    feed = replicas.status_feed(settings, uow, owner) if workers else None
    orders = OrderService(
        uow=uow,
        exchange=exchange,
        config=OrderServiceConfig(
            good_til_block_offset=settings.good_til_block_offset,
            default_good_til_seconds=settings.default_good_til_seconds,
            default_slippage_bps=settings.default_slippage_bps,
            default_subaccount=settings.subaccount_number,
        ),
        gate=sec.gate,
        # One group-commit writer for placements and the status stream's status moves.
        placements=(writer := PlacementWriter(pool, uow.client_ids)),
        holds=FaultHolds(
            {
                Step("before_broadcast"): settings.fault_hold_before_broadcast_s,
                **{Step(k): v for k, v in settings.fault_holds.items()},
            }
        ),
        follow=feed.follower.follow if feed is not None else None,
    )
    sync = OrderSync(
        uow=uow,
        exchange=exchange,
        confirm_after=timedelta(seconds=settings.stateful_confirm_timeout_s),
        writes=writer,
        in_flight=orders.placing.__contains__,
        pending_grace=timedelta(seconds=replicas.pending_grace_s(settings)),
        # The kill switch stops the reconciler's re-sends too (service/recovery.py).
        halted=lambda: sec.controls.state is TradingState.HALTED,
        peers=sec.presence.peers if workers else (lambda: False),
    )
    admin = AdminService(
        uow, sec.controls, orders, on_keys_changed=key_cache.clear, agents=sec.agents
    )
    listener, hub = _listen(settings, database_url, uow, sec, key_cache, supervisor, node)

    async def indexer_height() -> int:
        return (await indexer.height()).height

    monitor = HealthMonitor(
        exchange.latest_height,
        indexer_height,
        HealthLimits(
            max_block_age_s=settings.ready_max_block_age_s,
            max_indexer_lag_blocks=settings.ready_max_indexer_lag_blocks,
        ),
    )
    await monitor.sample()
    supervisor.spawn("health-monitor", monitor.run)
    chain_id = settings.effective_chain_id
    log.info("wallet_loaded", address=owner, signer=wallet.address, chain_id=chain_id)
    leases: list[LeasedGroup | replicas.Presence] = [sec.presence]
    status = None
    if feed is not None:
        closers.append(feed.stream.close)
        status, group = await replicas.start_status_workers(
            settings, pool, supervisor, feed, sync, heights, owner, listener
        )
        leases.append(group)

        async def fills(sub: int, market: str, before: int | None, limit: int) -> Any:
            page = await indexer.fills(
                owner, sub, market=market, limit=limit, created_before_or_at_height=before
            )
            return page.fills

        # Fills of our orders from the indexer, as order events say they happened.
        supervisor.spawn("fill-recorder", FillRecorder(hub, uow, fills).run)
    # Pool usage, websocket reconnects and the workers are read when Prometheus scrapes.
    collector = metrics.ContainerCollector(
        pool,
        (lambda: status.reconnects) if status is not None else None,
        {"node": node.pool.snapshot, "indexer": indexer.pool.snapshot},
        workers=supervisor.up,
        stream_behind=status.behind_s if status is not None else None,
        price_age=exchange.price_age,
    )
    metrics.register_collector(collector)

    async def unregister() -> None:
        metrics.unregister_collector(collector)

    closers.append(unregister)
    return Container(
        settings=settings,
        pool=pool,
        uow=uow,
        exchange=exchange,
        orders=orders,
        sync=sync,
        key_cache=key_cache,
        monitor=monitor,
        rate_limiter=sec.rate_limiter,
        admin=admin,
        gate=sec.gate,
        supervisor=supervisor,
        status=status,
        events=hub,
        listener=listener,
        leases=tuple(leases),
        presence=sec.presence,
        closers=tuple(closers),
    )


@contextlib.asynccontextmanager
async def open_audit(settings: Settings, rules: AuditRules) -> AsyncIterator[OrderAudit]:
    """The audit's wiring: a read-only database connection and chain queries, no trading key."""
    database_url = settings.require_database_url()
    password = urlsplit(database_url).password
    if password:
        redact.register_secret(password)
    retry = RetryPolicy(budget_s=settings.chain_retry_budget_s)
    chain = ChainReader(
        NodeClient(settings.nodes, timeout=float(settings.node_timeout_s), retry=retry),
        IndexerClient(settings.indexers, timeout=float(settings.indexer_timeout_s), retry=retry),
    )
    try:
        stored = await ReadOnlyOrders.connect(database_url, connect_timeout=settings.db_timeout_s)
        try:
            yield OrderAudit(stored, chain, rules=rules)
        finally:
            await stored.aclose()
    finally:
        await chain.aclose()


def _trading_key(settings: Settings, database_url: str) -> bytes:
    """The trading key's 32 bytes, from its one source (custody.py); the log redactor learns
    every secret before anything could log them (observability/redact.py)."""
    password = urlsplit(database_url).password
    if password:
        redact.register_secret(password)
    kind, secret = settings.trading_key()
    text = secret.get_secret_value()
    redact.register_secret(text)
    if kind == "mnemonic":
        # A bad mnemonic raises InvalidMnemonic, which never echoes it.
        key = _private_key_from_mnemonic(text)
    else:
        key = private_key_from_hex(secret, "DYDX_ROUTER_PRIVATE_KEY_HEX")
    redact.register_secret_bytes(key)
    return key


def _rates(settings: Settings) -> dict[str, Rate]:
    return {
        "read": Rate(settings.rate_limit_read_per_s, settings.rate_limit_read_burst),
        "trade": Rate(settings.rate_limit_trade_per_s, settings.rate_limit_trade_burst),
        "admin": Rate(settings.rate_limit_admin_per_s, settings.rate_limit_admin_burst),
        AUTH_FAILURES: Rate(settings.auth_failures_per_s, settings.auth_failures_burst),
    }


class _Security(NamedTuple):  # what _security builds
    rate_limiter: RateLimiter
    controls: RiskControls
    exposure: ExposureBook
    throttle: ChainThrottle
    agents: AgentLimitsBook
    gate: PreTradeGate
    presence: replicas.Presence


async def _security(
    settings: Settings,
    pool: Any,
    uow: UnitOfWorkFactory,
    exchange: DydxExchange,
    node: NodeClient,
    heights: HeightCache,
    supervisor: Supervisor,
) -> _Security:
    """Rate limits, the kill switch, the risk limits and the chain's rate (docs/security.md)."""
    rate_limiter = replicas.rate_limiter(settings, pool, _rates(settings))
    controls = RiskControls(
        controls_loader(uow),
        refresh_s=settings.risk_refresh_s,
        defaults=RiskLimits(
            price_band_bps=settings.default_price_band_bps or None,
            max_slippage_bps=settings.default_max_slippage_bps or None,
            max_order_notional=settings.default_max_order_notional or None,
        ),
        require_configured=settings.risk_limits_required,
    )
    await controls.reload()  # fail at start rather than trade without knowing the state
    if controls.current.reason == UNCONFIGURED:
        log.warning("risk_limits_not_set", network=settings.network.value, state="REDUCE_ONLY")

    async def open_orders() -> Any:
        async with uow() as tx:
            return await tx.risk.open_orders(exchange.address)

    exposure = ExposureBook(
        open_orders,
        exchange.account,
        refresh_s=settings.exposure_refresh_s,
        max_age_s=settings.exposure_max_age_s,
    )
    presence = await replicas.start_presence(settings, pool, supervisor)
    throttle = ChainThrottle(
        heights,
        share=settings.chain_rate_limit_share,
        slack_blocks=settings.chain_rate_limit_slack_blocks,
        max_wait_s=settings.chain_rate_limit_max_wait_s,
        shared=replicas.chain_budget(settings, pool, exchange.address),
        replicas=presence.count,
    )
    with contextlib.suppress(ChainError):
        throttle.configure(ChainLimits.of(await node.block_rate_limits()))
    # Per-key agent limits: reloaded on notification like the controls; usage read at most
    # once per exposure_refresh_s per key.
    agents = agent_limits_book(
        uow, refresh_s=settings.risk_refresh_s, usage_max_age_s=settings.exposure_refresh_s
    )
    await agents.reload()
    gate = PreTradeGate(controls, exposure, exchange.oracle_price, throttle, agents)
    return _Security(rate_limiter, controls, exposure, throttle, agents, gate, presence)


def _listen(
    settings: Settings,
    database_url: str,
    uow: UnitOfWorkFactory,
    sec: _Security,
    key_cache: KeyCache,
    supervisor: Supervisor,
    node: NodeClient,
) -> tuple[notify.Listener, EventHub]:
    """NOTIFY from the other replicas, the order events' hub and the security workers."""
    controls, agents = sec.controls, sec.agents
    listener = notify.Listener(database_url)
    listener.subscribe(notify.TOPIC_RISK, controls.changed)
    listener.subscribe(notify.TOPIC_TRADING_STATE, controls.changed)
    listener.subscribe(notify.TOPIC_API_KEYS, key_cache.clear)
    listener.subscribe(notify.TOPIC_AGENT_LIMITS, agents.changed)
    hub = EventHub(
        uow, retention_s=settings.events_retention_s, queue_max=settings.events_queue_max
    )
    listener.subscribe(notify.TOPIC_EVENTS, hub.wake)
    supervisor.spawn("events", hub.run)
    supervisor.spawn("controls-listener", listener.run)
    supervisor.spawn("risk-controls", controls.run)
    supervisor.spawn("agent-limits", agents.run)
    supervisor.spawn("exposure", lambda: sec.exposure.run(sec.gate.needs_exposure))
    supervisor.spawn("chain-rate-limits", lambda: sec.throttle.run(node.block_rate_limits))
    return listener, hub
