"""The health monitor's verdicts: a stalled chain, a lagging or silent indexer, recovery."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from dydx_router.chain.errors import HeightUnknown, IndexerUnavailable
from dydx_router.workers.monitor import HealthLimits, HealthMonitor


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


class World:
    def __init__(self) -> None:
        self.now = 1000.0
        self.chain: int | Exception = 100
        self.indexer: int | Exception = 100

    def clock(self) -> float:
        return self.now

    def chain_height(self) -> int:
        if isinstance(self.chain, Exception):
            raise self.chain
        return self.chain

    async def indexer_height(self) -> int:
        if isinstance(self.indexer, Exception):
            raise self.indexer
        return self.indexer


@pytest.fixture
def world() -> World:
    return World()


def monitor(world: World) -> HealthMonitor:
    return HealthMonitor(
        world.chain_height,
        world.indexer_height,
        HealthLimits(max_block_age_s=5, max_indexer_lag_blocks=10),
        clock=world.clock,
    )


async def test_ready_while_the_chain_advances_and_the_indexer_keeps_up(world: World) -> None:
    m = monitor(world)
    for _ in range(10):
        await m.sample()
        assert m.problems() == []
        world.now += 1
        world.chain += 1  # type: ignore[operator]
        world.indexer = world.chain
    assert sample("dydx_router_ready") == 1
    assert sample("dydx_router_chain_height_blocks") == 109


async def test_a_stalled_chain_fails_after_the_block_age_limit_and_recovers(world: World) -> None:
    m = monitor(world)
    await m.sample()
    world.now += 4.9  # the node still answers, with the same height
    await m.sample()
    assert m.chain_problem() is None
    world.now += 0.2
    await m.sample()
    problem = m.chain_problem()
    assert problem is not None and "has not advanced for 5.1 s" in problem
    assert sample("dydx_router_ready") == 0
    assert sample("dydx_router_chain_height_age_seconds") == pytest.approx(5.1)
    world.chain = 101
    world.indexer = 101
    await m.sample()
    assert m.problems() == []


async def test_an_unknown_height_is_not_ready(world: World) -> None:
    world.chain = HeightUnknown("no block height known yet")
    m = monitor(world)
    await m.sample()
    assert m.checks()["chain"] == "no block height known yet"


async def test_indexer_lag_beyond_the_limit_fails(world: World) -> None:
    m = monitor(world)
    world.chain, world.indexer = 200, 190
    await m.sample()
    assert m.indexer_problem() is None  # exactly at the limit
    world.chain = 201
    await m.sample()
    assert m.indexer_problem() == "the indexer lags the node by 11 blocks (limit 10)"
    assert sample("dydx_router_indexer_lag_blocks") == 11


async def test_a_silent_indexer_fails_once_its_last_height_is_too_old(world: World) -> None:
    m = monitor(world)
    await m.sample()
    world.indexer = IndexerUnavailable("no indexer endpoint answered /height")
    world.now += 3
    world.chain = 103
    await m.sample()
    assert m.indexer_problem() is None  # its last height is recent enough
    world.now += 3
    world.chain = 106
    await m.sample()
    assert m.indexer_problem() == "no indexer endpoint answered /height"


async def test_no_indexer_sample_yet_is_not_ready(world: World) -> None:
    world.indexer = IndexerUnavailable("down")
    m = monitor(world)
    await m.sample()
    assert m.checks() == {"chain": "ok", "indexer": "down"}
