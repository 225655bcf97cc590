"""One router replica against three on one database (docs/scaling.md), and the two ways of
sequencing stateful txs across replicas.

For each replica count (1, 3) and sequencing mode (timestamp_nonce, account_sequence), on a fresh
devnet and database: short-term quotes sent round-robin to the replicas for ``--seconds`` (timestamp
mode only: short-term txs carry no sequence), then ``--stateful`` long-term orders with
``--concurrency`` in flight. Prints per phase: orders acknowledged per second, the routers' CPU
milliseconds per order (user + system, from /proc, all replicas together), p50/p99 latency, and
for the stateful phase how many failed, and how many of those for a sequence reason.

The devnet's stateful allowance is lifted (``--stateful-scale``) so that the router's own path is
measured, not the chain's 2-per-block budget. On a 2-core machine three replicas share the same two
cores with the devnet, PostgreSQL and this load generator: more replicas cannot add throughput
here; what the run shows is the cost per order of sharing (leases, shared buckets) and that no
order fails for a sequence reason.

    .venv/bin/python bench/replicas.py [--seconds 10] [--stateful 120] [--concurrency 24]
        [--exposure-limit]   # a max_open_orders set: every insert takes the guarded path
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import order_bodies
from bench.stack import FUNDS_USDC, cpu_seconds, devnet, postgres
from tests.fixtures.db import fresh_database
from tests.fixtures.router import RouterProcess, create_key, start_router, stop_router

DEVNET = ("--block-time", "0.5", "--short-term-limit", "1000000", "--stateful-scale", "1000")
ENV = {
    "DYDX_ROUTER_LOG_LEVEL": "INFO",
    "DYDX_ROUTER_RECONCILE_INTERVAL_S": "2",
    "DYDX_ROUTER_DB_POOL_MAX_SIZE": "32",
    "DYDX_ROUTER_RATE_LIMIT_TRADE_PER_S": "100000",
    "DYDX_ROUTER_RATE_LIMIT_TRADE_BURST": "100000",
    "DYDX_ROUTER_DEFAULT_PRICE_BAND_BPS": "10000",
    "DYDX_ROUTER_CHAIN_RATE_LIMIT_SLACK_BLOCKS": "3",
}


@contextlib.contextmanager
def replicas(pg_url: str, n: int, mode: str) -> Any:
    with devnet(list(DEVNET), f"rep{n}") as d, fresh_database(pg_url, f"rep{n}") as url:
        env = {**ENV, "DYDX_ROUTER_SEQUENCE_MODE": mode}
        first = start_router(d, url, f"bench-rep-{n}-1", env)
        with ThreadPoolExecutor(max(1, n - 1)) as pool:
            rest = list(
                pool.map(
                    lambda i: start_router(d, url, f"bench-rep-{n}-{i}", env, same_as=first),
                    range(2, n + 1),
                )
            )
        routers = [first, *rest]
        try:
            asyncio.run(d.fund(first.address, FUNDS_USDC))
            yield routers
        finally:
            for r in routers:
                stop_router(r)


async def _phase(
    routers: list[RouterProcess], bodies: list[bytes], *, count: int | None, seconds: float,
    concurrency: int,
) -> dict[str, Any]:  # fmt: skip
    clients = [
        httpx.AsyncClient(
            base_url=r.url,
            headers={"Authorization": f"Bearer {r.api_key}", "Content-Type": "application/json"},
            timeout=60,
        )
        for r in routers
    ]
    latencies: list[float] = []
    failures: list[str] = []
    turn = itertools.count()
    cpu0 = sum(cpu_seconds(r.process.pid) for r in routers)
    start = time.perf_counter()
    end = start + seconds

    async def worker() -> None:
        while True:
            i = next(turn)
            if (count is not None and i >= count) or (count is None and time.perf_counter() > end):
                return
            c = clients[i % len(clients)]
            t = time.perf_counter()
            resp = await c.post("/v1/orders", content=bodies[i % len(bodies)])
            latencies.append(time.perf_counter() - t)
            body = resp.json()
            if resp.status_code not in (200, 201, 202) or body.get("status") == "REJECTED":
                failures.append(json.dumps(body.get("error") or body)[:200])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    cpu = sum(cpu_seconds(r.process.pid) for r in routers) - cpu0
    for c in clients:
        await c.aclose()
    done = len(latencies)
    q = statistics.quantiles(latencies, n=100) if done >= 2 else [0.0] * 99
    return {
        "orders": done,
        "per_s": done / wall,
        "cpu_ms_per_order": 1000 * cpu / max(done, 1),
        "p50_ms": 1000 * q[49],
        "p99_ms": 1000 * q[98],
        "failed": len(failures),
        "sequence_failures": sum("sequence" in f or "nonce" in f for f in failures),
        "sample_failure": failures[0] if failures else "",
    }


async def _set_exposure_limit(router: RouterProcess) -> None:
    """A global max_open_orders no run reaches: every placement then takes the guarded insert
    (store/exposure.py) without being refused."""
    _, admin = await create_key(router.database_url, {"read", "admin"}, name="bench-admin")
    async with httpx.AsyncClient(
        base_url=router.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ) as c:
        resp = await c.put("/v1/admin/risk-limits/global", json={"max_open_orders": 100_000})
        resp.raise_for_status()
    await asyncio.sleep(1.5)  # every replica reloads (NOTIFY; the poll as a backstop)


def run(
    pg: str, *, seconds: float, stateful: int, concurrency: int, counts: list[int],
    modes: list[str], exposure_limit: bool = False,
) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
    """Each replica count and mode on a fresh devnet and database; one row per phase."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for n in counts:
        for mode in modes:
            with replicas(pg, n, mode) as routers:
                r0 = routers[0]
                if exposure_limit:
                    asyncio.run(_set_exposure_limit(r0))
                if mode == "timestamp_nonce" and seconds > 0:
                    quotes = asyncio.run(order_bodies(r0.url, r0.api_key, "quote"))
                    rows.append((f"{n} replica(s) short-term quotes", asyncio.run(
                        _phase(routers, quotes, count=None, seconds=seconds,
                               concurrency=concurrency * 2))))  # fmt: skip
                if stateful > 0:
                    bodies = asyncio.run(order_bodies(r0.url, r0.api_key, "stateful"))
                    rows.append((f"{n} replica(s) stateful, {mode}", asyncio.run(
                        _phase(routers, bodies, count=stateful, seconds=0,
                               concurrency=concurrency))))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--stateful", type=int, default=120)
    ap.add_argument("--concurrency", type=int, default=24)
    ap.add_argument("--replicas", default="1,3", help="replica counts to run, comma-separated")
    ap.add_argument("--modes", default="timestamp_nonce,account_sequence")
    ap.add_argument(
        "--limits", default="postgres", choices=("postgres", "memory"),
        help="DYDX_ROUTER_SHARED_RATE_LIMITS (memory: the A/B of the shared limits' cost)",
    )  # fmt: skip
    ap.add_argument(
        "--exposure-limit", action="store_true",
        help="set a max_open_orders no run reaches (the A/B of the guarded insert's cost)",
    )  # fmt: skip
    args = ap.parse_args()
    ENV["DYDX_ROUTER_SHARED_RATE_LIMITS"] = args.limits
    with postgres() as pg:
        rows = run(
            pg, seconds=args.seconds, stateful=args.stateful, concurrency=args.concurrency,
            counts=[int(x) for x in args.replicas.split(",")], modes=args.modes.split(","),
            exposure_limit=args.exposure_limit,
        )  # fmt: skip
    print(f"\n{'scenario':44} {'orders':>6} {'per s':>7} {'CPU ms/order':>12} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'failed':>6} {'seq':>4}")  # fmt: skip
    for name, r in rows:
        print(
            f"{name:44} {r['orders']:6d} {r['per_s']:7.1f} {r['cpu_ms_per_order']:12.2f} "
            f"{r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['failed']:6d} {r['sequence_failures']:4d}"
        )
        if r["sample_failure"]:
            print(f"{'':44} e.g. {r['sample_failure']}")


if __name__ == "__main__":
    main()
