"""The system under load, started and stopped by the benchmarks: PostgreSQL, the devnet, the router.

PostgreSQL is ``DATABASE_URL`` when set, else the embedded server under ``.local/pgbench``; every
run gets a fresh database with the migrations applied (dropped at the end). The devnet and the
router are subprocesses on free ports, launched exactly as the end-to-end tests launch them
(``tests/fixtures``), with a fresh funded wallet and an API key with every scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet
from tests.fixtures.router import RouterProcess, start_router, stop_router

from dydx_router.config import Settings
from dydx_router.store.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
# Plenty of collateral: resting quotes of a 60 s run at 1,000/s must never be undercollateralized.
FUNDS_USDC = "100000000"
# The devnet as the router's capacity is measured: blocks of 1 s and the chain's short-term
# allowance (2,000 per 5 blocks per account) lifted.
TUNED_DEVNET = ("--block-time", "1", "--short-term-limit", "1000000")


def _default(name: str) -> str:
    return str(Settings.model_fields[name].default)


# The router as `make run` starts it (`dydx-router local run`): every setting the stack below
# would tune back at its default, and the console log format.
MAKE_RUN_ENV = {
    "DYDX_ROUTER_LOG_FORMAT": _default("log_format"),
    "DYDX_ROUTER_LOG_LEVEL": _default("log_level"),
    "DYDX_ROUTER_RECONCILE_INTERVAL_S": _default("reconcile_interval_s"),
    "DYDX_ROUTER_DB_POOL_MAX_SIZE": _default("db_pool_max_size"),
    "DYDX_ROUTER_RATE_LIMIT_TRADE_PER_S": _default("rate_limit_trade_per_s"),
    "DYDX_ROUTER_RATE_LIMIT_TRADE_BURST": _default("rate_limit_trade_burst"),
}


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """The admin URL of a PostgreSQL server for the benchmarks."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(PG_DATA)
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class Stack:
    devnet: DevnetProcess
    router: RouterProcess

    @property
    def url(self) -> str:
        return self.router.url


@contextlib.contextmanager
def devnet(args: list[str], name: str = "bench") -> Iterator[DevnetProcess]:
    d = start_devnet(name, args)
    try:
        yield d
    finally:
        stop_devnet(d.process)


@contextlib.contextmanager
def stack(
    pg_url: str,
    devnet_args: list[str],
    router_env: dict[str, str] | None = None,
    name: str = "bench",
) -> Iterator[Stack]:
    """A devnet and a router on a fresh database, torn down on exit."""
    with devnet(devnet_args, name) as d, fresh_database(pg_url, name) as db_url:
        env = {
            # INFO, JSON, as in production: the log lines are part of the cost of an order.
            "DYDX_ROUTER_LOG_LEVEL": "INFO",
            "DYDX_ROUTER_RECONCILE_INTERVAL_S": "2",
            "DYDX_ROUTER_DB_POOL_MAX_SIZE": "32",
            # The inbound per-key limit (1,000 trades/s by default) is a policy, not a capacity:
            # the benchmarks measure what the router can do, so one key may go past it.
            "DYDX_ROUTER_RATE_LIMIT_TRADE_PER_S": "100000",
            "DYDX_ROUTER_RATE_LIMIT_TRADE_BURST": "100000",
            # The quotes rest at half the oracle price: outside the default 10% price band, so
            # the band is widened as an operator placing such orders would (docs/security.md).
            "DYDX_ROUTER_DEFAULT_PRICE_BAND_BPS": "10000",
            **(router_env or {}),
        }
        r = start_router(d, db_url, name, env)
        try:
            asyncio.run(d.fund(r.address, FUNDS_USDC))
            yield Stack(d, r)
        finally:
            stop_router(r)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


PG_DATA = ROOT / ".local" / "pgbench"


def _postmaster() -> int | None:
    """The benchmark server's postmaster pid (the embedded one), else None."""
    try:
        return int((PG_DATA / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def postgres_cpu_seconds() -> float:
    """CPU time of the benchmark's PostgreSQL server: its postmaster and its backends (every
    PostgreSQL process on the machine when the server is an external DATABASE_URL one)."""
    postmaster = _postmaster()
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(stat[1])
        if comm == "postgres" and (postmaster is None or postmaster in (pid, ppid)):
            total += cpu_seconds(pid)
    return total
