"""Issue 13, item 8: a background worker that dies is restarted (with backoff, counted and
logged), and the supervisor says which workers are down or stale; the status stream worker that
ends says it is down, so the reconciler stops counting on it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from dydx_router.chain.errors import IndexerBadRequest
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer_models import SubaccountUpdateContents
from dydx_router.chain.stream import StreamConnected, SubaccountUpdate
from dydx_router.workers.status import StatusStreamWorker
from dydx_router.workers.supervisor import Supervisor


def restarts(worker: str) -> float:
    return REGISTRY.get_sample_value("dydx_router_worker_restarts_total", {"worker": worker}) or 0


async def _until(check: Any, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_a_worker_that_raises_or_returns_is_restarted_and_counted() -> None:
    runs: list[int] = []
    crash = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise KeyError("a bug outside the guarded list")
        if len(runs) == 2:
            return  # a loop that ended: no worker ends by itself
        await crash.wait()

    before = restarts("flaky")
    supervisor = Supervisor(backoff_initial_s=0.05, backoff_max_s=0.1)
    worker = supervisor.spawn("flaky", flaky)
    try:
        await _until(lambda: len(runs) == 3)
        assert worker.restarts == 2 and worker.running
        assert restarts("flaky") - before == 2
        assert supervisor.problems() == []
        assert supervisor.up() == {"flaky": True}
    finally:
        await supervisor.aclose()


async def test_a_down_worker_is_reported_until_it_runs_again() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    supervisor = Supervisor(backoff_initial_s=5, backoff_max_s=5)
    supervisor.spawn("broken", broken)
    try:
        await _until(lambda: not supervisor.workers["broken"].running)
        (problem,) = supervisor.problems()
        assert problem.startswith("broken is down (RuntimeError: boom); restart 1 in")
        assert supervisor.up() == {"broken": False}
    finally:
        await supervisor.aclose()


async def test_a_worker_without_progress_is_stale() -> None:
    now = [100.0]
    supervisor = Supervisor(clock=lambda: now[0])
    beat = supervisor.heartbeat()

    async def stuck() -> None:
        await asyncio.Event().wait()

    supervisor.spawn("reconciler", stuck, heartbeat=beat, stale_after_s=60)
    try:
        await asyncio.sleep(0)
        now[0] += 30
        assert supervisor.problems() == []
        now[0] += 31
        assert supervisor.problems() == ["reconciler is stale: no progress for 61.0 s (limit 60 s)"]
        beat.beat()
        assert supervisor.problems() == []
    finally:
        await supervisor.aclose()


class RefusingStream:
    """Connects, then the indexer answers a subscription with an error message."""

    async def events(self) -> AsyncIterator[object]:
        yield StreamConnected(url="ws://test", connection_id="c1")
        await asyncio.sleep(0.01)
        raise IndexerBadRequest("indexer refused the subscription: Internal error")


async def test_a_status_stream_that_dies_says_so_and_raises_for_the_supervisor() -> None:
    async def no_height() -> int:
        raise AssertionError("not called")

    worker = StatusStreamWorker(
        RefusingStream(),  # type: ignore[arg-type]
        sync=None,  # type: ignore[arg-type]
        heights=HeightCache(no_height),
        uow=None,  # type: ignore[arg-type]
        reconcile_now=asyncio.Event(),
    )
    with pytest.raises(IndexerBadRequest):
        await worker.run()
    # Not connected any more: the reconciler must not count on a stream that settles nothing
    # (before, ``connected`` stayed true and its cutoff froze at the time the stream died).
    assert worker.connected is False
    assert worker.settled_through() is None
    assert worker.behind_s() == 0.0
    assert worker.problem(max_behind_s=10, max_down_s=0) is not None


class SlowStore:
    """A unit of work whose look-up waits until released: the stream's settling falls behind."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    def __call__(self) -> SlowStore:
        return self

    async def __aenter__(self) -> SlowStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def orders(self) -> SlowStore:
        return self

    async def find_by_indexer_ids(self, ids: list[Any]) -> list[Any]:
        await self.release.wait()
        return []


class UpdatingStream:
    async def events(self) -> AsyncIterator[object]:
        yield StreamConnected(url="ws://test", connection_id="c1")
        for n in range(3):
            contents = SubaccountUpdateContents.model_validate(
                {"orders": [{"id": str(uuid.uuid4()), "status": "OPEN", "orderFlags": "0"}]}
            )
            yield SubaccountUpdate("dydx1me", 0, contents, str(n))
        await asyncio.Event().wait()


async def test_a_stream_whose_settling_lags_is_reported_behind() -> None:
    async def no_height() -> int:
        raise AssertionError("not called")

    store = SlowStore()
    worker = StatusStreamWorker(
        UpdatingStream(),  # type: ignore[arg-type]
        sync=None,  # type: ignore[arg-type]
        heights=HeightCache(no_height),
        uow=store,  # type: ignore[arg-type]
        reconcile_now=asyncio.Event(),
    )
    task = asyncio.create_task(worker.run())
    try:
        await _until(lambda: worker.behind_s() > 0.3)
        problem = worker.problem(max_behind_s=0.3, max_down_s=60)
        assert problem is not None and "behind the indexer" in problem
        store.release.set()
        await _until(lambda: worker.behind_s() == 0.0)
        assert worker.problem(max_behind_s=0.3, max_down_s=60) is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_worker_whose_cancel_surfaces_as_another_error_is_stopped_not_restarted() -> None:
    """Shutdown cancels a worker inside a database call; asyncpg's rollback then raises
    "transaction is in error state" instead of CancelledError. The supervisor must stop, not
    restart it (it used to restart it forever, and the process never exited)."""
    started = 0

    async def masks_its_cancel() -> None:
        nonlocal started
        started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cannot rollback; the transaction is in error state") from None

    supervisor = Supervisor(backoff_initial_s=0.0, backoff_max_s=0.0)
    supervisor.spawn("masking", masks_its_cancel)
    await _until(lambda: started == 1)
    async with asyncio.timeout(2):
        await supervisor.aclose()
    await asyncio.sleep(0.05)
    assert started == 1
    assert not supervisor.workers["masking"].running


async def test_close_gives_up_on_a_worker_that_ignores_its_cancel() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    supervisor = Supervisor()
    worker = supervisor.spawn("stubborn", stubborn)
    await asyncio.sleep(0.01)
    async with asyncio.timeout(2):
        await supervisor.aclose(within=0.2)
    release.set()
    assert worker.task is not None
    await worker.task


async def test_a_kept_worker_is_restarted_counted_and_unlisted_when_its_caller_stops() -> None:
    """A leased worker (workers/lease.py) runs in its lease holder's task: it is restarted and
    counted like a spawned one, reported while down, and no longer listed once the lease ends."""
    runs = 0

    async def dies_once() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    before = restarts("kept")
    supervisor = Supervisor(backoff_initial_s=0.05, backoff_max_s=0.05)
    task = asyncio.create_task(supervisor.keep("kept", dies_once))
    await _until(lambda: runs == 2)
    assert restarts("kept") == before + 1
    assert "kept" in supervisor.workers and supervisor.problems() == []
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert "kept" not in supervisor.workers
