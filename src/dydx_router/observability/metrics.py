"""Prometheus metrics: every series the service exports, in one place.

Names carry the ``dydx_router_`` prefix and a unit suffix; labels stay bounded (route templates,
markets, order types, outcomes, chain error codes, endpoints) and never hold an order id, a tx hash
or a raw path. Series are process-wide (the Prometheus client's default registry), so any module
records into them by importing this one; values that already live in an object (the DB pool, the
status stream's reconnect count) are read at scrape time by :class:`ContainerCollector` instead of
being copied on every change.

Other components record through the small functions below (``record_checktx``,
``observe_broadcast``...), so that the label vocabulary stays defined here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "dydx_router_"

# Sub-millisecond resolution where the router itself is measured (targets: p50 <= 5 ms, p99 <=
# 25 ms), up to the 10 s broadcast deadline.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

HTTP_REQUESTS = Counter(
    PREFIX + "http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    PREFIX + "http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response, by route template.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(PREFIX + "http_requests_in_flight", "HTTP requests being served now.")

ORDERS_PLACED = Counter(
    PREFIX + "orders_placed_total",
    "Order placements by market, order type and outcome "
    "(submitted, rejected, unknown, replayed, failed).",
    ["market", "type", "outcome"],
)
ORDER_STATUS_SYNCED = Counter(
    PREFIX + "order_status_synced_total",
    "Order status changes applied from the venue (status stream, reconciler), by new status.",
    ["status"],
)
ORDER_PLACE_DURATION = Histogram(
    PREFIX + "order_place_duration_seconds",
    "Time the service spends placing one order, broadcast included.",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
BROADCAST_DURATION = Histogram(
    PREFIX + "broadcast_duration_seconds",
    "Time of one BroadcastTx (CheckTx) round trip to the node, by kind of tx.",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
CHECKTX_RESULTS = Counter(
    PREFIX + "checktx_results_total",
    "CheckTx answers by (codespace, code); code 0 is acceptance. codespace 'router' counts "
    "broadcasts without an answer (timeout, no endpoint).",
    ["codespace", "code"],
)
SEQUENCE_RESYNCS = Counter(
    PREFIX + "sequence_resyncs_total",
    "Times the account sequence was re-read from the node (start-up, sdk/32, unknown outcome).",
)
RECONCILER_BACKLOG = Gauge(
    PREFIX + "reconciler_backlog_orders",
    "Non-final orders the last reconciliation pass checked.",
)
ORDERS_UNRESOLVED = Gauge(
    PREFIX + "orders_unknown",
    "Orders whose broadcast outcome is not known (UNKNOWN, or PENDING left by a crash).",
)
STREAM_BACKLOG = Gauge(
    PREFIX + "status_stream_backlog_events",
    "Indexer stream events that queued up while the previous ones were being settled.",
)
RECONCILE_DURATION = Histogram(
    PREFIX + "reconcile_duration_seconds",
    "Duration of one reconciliation pass.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CHAIN_HEIGHT = Gauge(PREFIX + "chain_height_blocks", "Latest block height seen from the node.")
CHAIN_HEIGHT_AGE = Gauge(
    PREFIX + "chain_height_age_seconds",
    "Seconds since the node's block height last advanced.",
)
INDEXER_HEIGHT = Gauge(PREFIX + "indexer_height_blocks", "Latest block height of the indexer.")
INDEXER_LAG = Gauge(
    PREFIX + "indexer_lag_blocks", "Blocks by which the indexer trails the node (0 if ahead)."
)
EVENT_LOOP_LAG = Histogram(
    PREFIX + "event_loop_lag_seconds",
    "How late the event loop ran a timer: time other work held the loop.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
READY = Gauge(PREFIX + "ready", "1 when the readiness probe passes, else 0.")
WORKER_RESTARTS = Counter(
    PREFIX + "worker_restarts_total",
    "Background workers restarted by the supervisor after they died, by worker.",
    ["worker"],
)
PRICE_REFUSALS = Counter(
    PREFIX + "oracle_price_stale_total",
    "Orders refused because the oracle price was older than the limit, by market.",
    ["market"],
)


# Circuit breaker states as gauge values (chain/resilience.py BreakerState names).
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, remembered. The client library validates the values and
    takes a lock on every call, and a placement makes half a dozen; label values are bounded
    by design (route templates, markets of the chain, outcomes), and so is this cache."""
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def record_status_synced(status: str) -> None:
    labelled(ORDER_STATUS_SYNCED, status).inc()


def record_checktx(codespace: str, code: int | str) -> None:
    labelled(CHECKTX_RESULTS, codespace or "", str(code)).inc()


class RequestTiming:
    """Time one HTTP request spent waiting on the chain, for its ``Server-Timing`` header: the
    router's own latency is the total minus this (docs/performance.md)."""

    __slots__ = ("chain_s",)

    def __init__(self) -> None:
        self.chain_s = 0.0


REQUEST_TIMING: ContextVar[RequestTiming | None] = ContextVar("request_timing", default=None)


def observe_broadcast(kind: str, seconds: float) -> None:
    """One BroadcastTx round trip: the histogram, and the current request's chain time."""
    labelled(BROADCAST_DURATION, kind).observe(seconds)
    timing = REQUEST_TIMING.get()
    if timing is not None:
        timing.chain_s += seconds


def record_order(market: str, order_type: str, outcome: str, seconds: float | None) -> None:
    labelled(ORDERS_PLACED, market, order_type, outcome).inc()
    if seconds is not None:
        labelled(ORDER_PLACE_DURATION, outcome).observe(seconds)


def endpoint_label(url: str) -> str:
    """An endpoint as a label: scheme, host, port and path only. Credentials (``user:pass@``)
    and the query (``?apikey=``) of a configured URL never reach /metrics."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url.rsplit("@", 1)[-1].split("?", 1)[0]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class ContainerCollector(Collector):
    """Values read at scrape time from live objects: the DB pool, the status stream and the
    upstream endpoint pools (their circuit breakers).

    ``pool`` is an asyncpg pool (``get_size``/``get_idle_size``/``get_max_size``);
    ``reconnects`` returns the websocket reconnect count so far; ``upstreams`` maps an upstream
    name (``node``, ``indexer``) to a callable returning its endpoints' snapshots
    (``chain.resilience.EndpointPool.snapshot``: dicts with ``endpoint`` and ``state``).
    """

    def __init__(
        self,
        pool: Any,
        reconnects: Callable[[], int] | None = None,
        upstreams: dict[str, Callable[[], list[dict[str, object]]]] | None = None,
        *,
        workers: Callable[[], dict[str, bool]] | None = None,
        stream_behind: Callable[[], float | None] | None = None,
        price_age: Callable[[], float | None] | None = None,
    ) -> None:
        self._pool = pool
        self._reconnects = reconnects
        self._upstreams = upstreams or {}
        self._workers = workers
        self._stream_behind = stream_behind
        self._price_age = price_age

    def collect(self) -> Iterator[Any]:
        size = self._pool.get_size()
        idle = self._pool.get_idle_size()
        conns = GaugeMetricFamily(
            PREFIX + "db_pool_connections",
            "Database pool connections by state (in_use, idle, max).",
            labels=["state"],
        )
        conns.add_metric(["in_use"], size - idle)
        conns.add_metric(["idle"], idle)
        conns.add_metric(["max"], self._pool.get_max_size())
        yield conns
        breakers = GaugeMetricFamily(
            PREFIX + "circuit_breaker_state",
            "Circuit breaker per upstream endpoint: 0 closed, 1 half-open, 2 open.",
            labels=["upstream", "endpoint"],
        )
        for upstream, snapshot in self._upstreams.items():
            for entry in snapshot():
                state = BREAKER_VALUES.get(str(entry.get("state")), 2)
                breakers.add_metric([upstream, endpoint_label(str(entry.get("endpoint")))], state)
        yield breakers
        if self._reconnects is not None:
            yield CounterMetricFamily(
                PREFIX + "indexer_ws_reconnects",
                "Times the indexer websocket was lost and reconnected.",
                value=self._reconnects(),
            )
        if self._workers is not None:
            up = GaugeMetricFamily(
                PREFIX + "worker_up",
                "1 while a background worker runs, 0 while it is down (waiting to restart).",
                labels=["worker"],
            )
            for name, running in sorted(self._workers().items()):
                up.add_metric([name], 1 if running else 0)
            yield up
        if self._stream_behind is not None:
            yield GaugeMetricFamily(
                PREFIX + "status_stream_behind_seconds",
                "Age of the oldest indexer stream event received but not yet settled (0: none).",
                value=self._stream_behind() or 0.0,
            )
        if self._price_age is not None:
            age = self._price_age()
            if age is not None:
                yield GaugeMetricFamily(
                    PREFIX + "oracle_price_age_seconds",
                    "Seconds since the oracle prices were last read from the node.",
                    value=age,
                )


def register_collector(collector: Collector, registry: CollectorRegistry = REGISTRY) -> None:
    registry.register(collector)


def unregister_collector(collector: Collector, registry: CollectorRegistry = REGISTRY) -> None:
    with contextlib.suppress(KeyError):
        registry.unregister(collector)


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The text exposition format and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
