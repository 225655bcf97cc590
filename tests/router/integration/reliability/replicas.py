"""The router for a reliability test, as one process or as several replicas behind HAProxy
(``dydx_router.localcluster``, what ``make run REPLICAS=3`` runs), behind one interface."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dydx_router.localcluster import LocalCluster
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import create_key
from tests.router.integration.reliability.harness import launch_router, stop_process


@dataclass
class Routers:
    url: str  # where clients go: the router, or the balancer
    api_key: str  # scopes read, trade, admin
    replica_urls: list[str]
    logs: list[Path]
    stop: Callable[[], None]

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def replica_env(
    devnet: DevnetProcess, database_url: str, mnemonic: str, extra: dict[str, str]
) -> dict[str, str]:
    """What tests/fixtures/router.py gives one router, for ``LocalCluster.start``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DYDX_ROUTER_MNEMONIC": mnemonic,
            "DYDX_ROUTER_NETWORK": "devnet",
            "DYDX_ROUTER_NODE_ENDPOINTS": devnet.grpc,
            "DYDX_ROUTER_INDEXER_URLS": devnet.indexer,
            "DYDX_ROUTER_INDEXER_WS_URLS": devnet.ws,
            "DYDX_ROUTER_LOG_FORMAT": "json",
            "DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5",
            # The resting orders sit at half and one and a half times the oracle price.
            "DYDX_ROUTER_DEFAULT_PRICE_BAND_BPS": "0",
            **extra,
        }
    )
    return env


async def start_routers(
    devnet: DevnetProcess,
    database_url: str,
    mnemonic: str,
    *,
    replicas: int,
    work_dir: Path,
    env: dict[str, str] | None = None,
) -> Routers:
    if replicas == 1:
        router = await launch_router(devnet, database_url, "replica", mnemonic, env)
        return Routers(
            router.url,
            router.api_key,
            [router.url],
            [router.log_path],
            lambda: stop_process(router) and None,
        )
    cluster = LocalCluster(replicas, "127.0.0.1", 0, work_dir)  # it binds, HAProxy inherits
    try:
        await asyncio.to_thread(
            cluster.start, replica_env(devnet, database_url, mnemonic, env or {})
        )
    except BaseException:
        cluster.stop()
        raise
    _, key = await create_key(database_url, {"read", "trade", "admin"})
    return Routers(
        cluster.url,
        key,
        [f"http://{b.host}:{b.port}" for b in cluster.backends],
        [c.log_path for c in cluster.children],
        cluster.stop,
    )
