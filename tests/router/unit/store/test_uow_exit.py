"""A unit of work that ends on an exception re-raises that exception, even when the rollback
fails too: a cancel must reach the caller as a cancel (the supervisor tells a stopping worker
from a crashing one by it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dydx_router.store.uow import UnitOfWork


class BrokenTransaction:
    async def start(self) -> None:
        return None

    async def rollback(self) -> None:
        raise RuntimeError("cannot rollback; the transaction is in error state")


class Connection:
    def transaction(self) -> BrokenTransaction:
        return BrokenTransaction()


class Pool:
    def __init__(self) -> None:
        self.released: list[Any] = []

    async def acquire(self, **_: float) -> Connection:
        return Connection()

    async def release(self, conn: Any) -> None:
        self.released.append(conn)


async def test_a_cancel_is_not_hidden_by_a_failed_rollback() -> None:
    pool = Pool()
    with pytest.raises(asyncio.CancelledError):
        async with UnitOfWork(pool):
            raise asyncio.CancelledError
    assert len(pool.released) == 1


async def test_an_error_is_not_hidden_by_a_failed_rollback() -> None:
    pool = Pool()
    with pytest.raises(KeyError):
        async with UnitOfWork(pool):
            raise KeyError("the real reason")
    assert len(pool.released) == 1


async def test_a_clean_exit_still_reports_a_failed_rollback() -> None:
    with pytest.raises(RuntimeError, match="error state"):
        async with UnitOfWork(Pool()):
            pass
