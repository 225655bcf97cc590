"""The set-up the reliability tests share: a router on a freshly funded wallet, a load running
against it while a fault is injected, the first order placed after the fault ends, settling and
stopping, and what the chain accepted (harness.py and outages.py hold the pieces)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess
from tests.router.integration.reliability.harness import (
    Load,
    Outcome,
    chain_order_key,
    launch_router,
    market_specs,
    new_mnemonic,
    resting_orders,
    stop_process,
    wait_settled,
)


async def funded_wallet(devnet: DevnetProcess) -> tuple[str, str]:
    """A fresh wallet's (mnemonic, address), funded on the devnet."""
    mnemonic, address = new_mnemonic()
    await devnet.fund(address, "100000")
    return mnemonic, address


@dataclass
class Scenario:
    """A router on its own funded wallet and a load of resting orders aimed at it."""

    devnet: DevnetProcess
    database_url: str
    router: RouterProcess
    address: str
    load: Load

    @classmethod
    async def start(
        cls,
        devnet: DevnetProcess,
        database_url: str,
        name: str,
        env: dict[str, str] | None = None,
    ) -> Scenario:
        mnemonic, address = await funded_wallet(devnet)
        router = await launch_router(devnet, database_url, name, mnemonic, env)
        load = Load(router.url, router.api_key, resting_orders(await market_specs(router)))
        return cls(devnet, database_url, router, address, load)

    @asynccontextmanager
    async def loaded(self) -> AsyncIterator[None]:
        """The load runs for as long as the block does, and has ended when it exits."""
        done = asyncio.Event()
        running = asyncio.create_task(self.load.run(until=done))
        try:
            yield
        finally:
            done.set()
            await running

    async def first_placed_after(
        self, since: float, placed: Callable[[Outcome], bool], failure: str, within: float = 30
    ) -> float:
        """When the first order started after ``since`` that ``placed`` accepts was answered;
        the test fails with ``failure`` if none is within ``within`` seconds."""

        def after(o: Outcome) -> bool:
            return o.started > since and placed(o)

        while not any(after(o) for o in self.load.outcomes):
            if time.monotonic() - since > within:
                pytest.fail(f"{failure}: {self.load.summary()}")
            await asyncio.sleep(0.05)
        return min(o.started + o.seconds for o in self.load.outcomes if after(o))

    async def settle_and_stop(self, within: float) -> tuple[float, dict[str, int]]:
        """``wait_settled``'s answer; the router is stopped either way."""
        try:
            return await wait_settled(self.database_url, within=within)
        except AssertionError as e:
            height = (await self.devnet.status())["height"]
            raise AssertionError(f"{e}; devnet height {height}") from e
        finally:
            stop_process(self.router)

    async def accepted(self) -> tuple[list[dict[str, Any]], Counter[tuple[Any, ...]]]:
        """The orders the chain accepted from this wallet, and how often each OrderId."""
        return await chain_accepted(self.devnet, self.address)


async def chain_accepted(
    devnet: DevnetProcess, address: str
) -> tuple[list[dict[str, Any]], Counter[tuple[Any, ...]]]:
    accepted = await devnet.accepted_orders(owner=address)
    return accepted, Counter(chain_order_key(o) for o in accepted)
