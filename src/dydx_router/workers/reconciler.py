"""The reconciler: every order whose outcome is awaited, checked against the chain on a timer
(or at once on demand), beside the status stream (``workers/status.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime

import structlog

from dydx_router.chain.errors import ChainError
from dydx_router.domain.errors import DomainError
from dydx_router.observability import metrics
from dydx_router.service.sync import OrderSync
from dydx_router.workers.supervisor import Heartbeat

log = structlog.get_logger(__name__)


class ReconcilerWorker:
    """Reconciles every ``interval`` seconds (or at once when ``reconcile_now`` is set).

    While the status stream is live (``stream_settled_through()`` is a time, not None), a pass
    checks only the orders whose outcome is awaited, and only those the stream has had
    ``settle_after`` of settled time to report; resting orders, which the stream reports, are
    swept by a full pass at start-up, after every (re)subscription, every ``full_every``
    seconds, and on every pass while the stream is down (then this is the REST polling
    fallback).
    """

    def __init__(
        self,
        sync: OrderSync,
        interval: float,
        reconcile_now: asyncio.Event,
        stream_settled_through: Callable[[], datetime | None] | None = None,
        # The stream resubscribes (and so triggers a full pass) on any gap it detects; the
        # periodic sweep is a backstop, and costs one indexer call per resting order.
        full_every: float = 300.0,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._heartbeat = heartbeat
        self._sync = sync
        self._interval = interval
        self._now = reconcile_now
        self._stream_settled_through = stream_settled_through or (lambda: None)
        self._full_every = full_every
        self.last_backlog = 0

    async def run(self) -> None:
        last_full: float | None = None
        full = True
        while True:
            if self._heartbeat is not None:
                self._heartbeat.beat()
            try:
                start = time.perf_counter()
                settled = self._stream_settled_through()
                if settled is None or (
                    last_full is not None and start - last_full >= self._full_every
                ):
                    full = True
                report = await self._sync.reconcile(full=full, seen_through=settled)
                if full:
                    last_full, full = start, False
                metrics.RECONCILE_DURATION.observe(time.perf_counter() - start)
                self.last_backlog = report.unresolved
                metrics.RECONCILER_BACKLOG.set(report.checked)
                metrics.ORDERS_UNRESOLVED.set(report.unresolved)
                if report.changed or report.rebroadcast:
                    log.info(
                        "orders_reconciled",
                        checked=report.checked,
                        changed=report.changed,
                        rebroadcast=report.rebroadcast,
                        unresolved=report.unresolved,
                    )
            except (ChainError, DomainError, OSError) as e:
                log.warning("reconcile_failed", error=str(e))
            except Exception:
                log.exception("reconcile_failed_unexpectedly")  # keep reconciling regardless
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._now.wait()
            if self._now.is_set():
                full = True  # a (re)subscription: anything may have been missed
            self._now.clear()
