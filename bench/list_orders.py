"""``GET /v1/orders`` (filters + cursor pagination) over millions of stored orders.

    .venv/bin/python bench/list_orders.py [--rows 10000000] [--reseed]

Seeds a database of its own (kept between runs, reused when it already holds ``--rows``) with
COPY: secondary indexes are dropped first and rebuilt from their own definitions afterwards.
Rows spread over 90 days, 10 markets, both sides and a realistic status mix (1% still open).
Then starts a devnet and the router on that database and sends, one at a time, a mix of list
requests (no filter, market, status, side, time window, and combinations), each followed by three
``next_cursor`` pages, and reports p50/p99/max latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench.http1 import Connection, http_request  # noqa: E402
from bench.stack import devnet, postgres  # noqa: E402
from tests.fixtures.router import start_router, stop_router  # noqa: E402

from dydx_router.store import migrate  # noqa: E402
from dydx_router.store.database import asyncpg_dsn  # noqa: E402
from dydx_router.store.embedded import with_database  # noqa: E402

MARKETS = [
    "BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "AVAX-USD",
    "DOGE-USD", "ATOM-USD", "LTC-USD", "UNI-USD", "ARB-USD",
]  # fmt: skip
# Status by i % 100: mostly final, as an order history is; one order in 5,000 still open
# (2,000 of 10 million: an account rests a few thousand orders at most).
STATUS = ["FILLED"] * 45 + ["CANCELED"] * 35 + ["EXPIRED"] * 16 + ["REJECTED"] * 4
OPEN_EVERY = 5000
# Bump when the generated data changes, so a cached database is not reused.
DATA_VERSION = 2
START = datetime(2026, 8, 26, tzinfo=UTC)
SPAN = timedelta(days=90)
ADDRESS = "dydx1benchlistxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
CHUNK = 20_000


async def _admin(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _rows(n: int) -> AsyncIterator[bytes]:
    step = SPAN.total_seconds() / n
    base = START.timestamp()
    fmt = (
        "{i:08x}-0000-4000-8000-{i:012x},,,,,{m},{side},LIMIT,GTT,f,f,0.01,100.5,,,1000000,"
        "100500000,,{i},64,{c},,,{a},0,{i:08x}-1111-4111-8111-{i:012x},{s},0,,,,,,,{t},{t}\n"
    )
    buf: list[str] = []
    for i in range(n):
        t = datetime.fromtimestamp(base + i * step, UTC).isoformat()
        buf.append(
            fmt.format(
                i=i,
                m=MARKETS[i % 10],
                side="BUY" if (i // 3) % 2 else "SELL",
                c=i % 10,
                a=ADDRESS,
                s="OPEN" if i % OPEN_EVERY == 0 else STATUS[i % 100],
                t=t,
            )
        )
        if len(buf) == CHUNK:
            yield "".join(buf).encode()
            buf = []
    if buf:
        yield "".join(buf).encode()


COPY_COLUMNS = [
    "id", "api_key_id", "client_order_id", "idempotency_key", "request_fingerprint", "market",
    "side", "type", "time_in_force", "reduce_only", "post_only", "size", "price", "trigger_price",
    "slippage_bps", "quantums", "subticks", "trigger_subticks", "client_id", "order_flags",
    "clob_pair_id", "good_til_block", "good_til_block_time", "address", "subaccount_number",
    "indexer_order_id", "status", "filled_size", "average_fill_price", "tx_hash", "signed_tx",
    "error_codespace", "error_code", "error_log", "created_at", "updated_at",
]  # fmt: skip


async def seed(url: str, n: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Secondary indexes are rebuilt after the load (much faster than maintaining them row by
        # row); the primary key and unique constraint stay (the history table references them).
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'orders' "
            "AND i.indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'orders'::regclass)"
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        start = time.perf_counter()
        await conn.copy_to_table(
            "orders", source=_rows(n), columns=COPY_COLUMNS, format="csv", null=""
        )
        print(f"  COPY {n:,} rows: {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("ANALYZE orders")
        print(f"  {len(indexes)} indexes rebuilt: {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        await conn.close()


def database(pg_url: str, n: int, reseed: bool = False) -> str:
    """The seeded database's URL (created and seeded unless it already holds ``n`` rows)."""
    name = f"dydxr_bench_list_{n}_v{DATA_VERSION}"
    url = with_database(pg_url, name)
    exists = asyncio.run(_admin(pg_url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))
    if exists and not reseed:
        try:
            count = asyncio.run(_admin(url, "SELECT count(*) FROM orders"))
        except asyncpg.PostgresError:
            count = -1
        if count == n:
            migrate.upgrade(url)
            print(f"  reusing {name} ({n:,} rows)", flush=True)
            return url
    asyncio.run(_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(pg_url, f'CREATE DATABASE "{name}"'))
    migrate.upgrade(url)
    asyncio.run(seed(url, n))
    return url


def queries(rng: random.Random) -> list[str]:
    day = START + timedelta(days=rng.randrange(89))
    since, until = quote(day.isoformat()), quote((day + timedelta(days=1)).isoformat())
    m = rng.choice(MARKETS)
    return [
        "/v1/orders",
        f"/v1/orders?market={m}",
        "/v1/orders?status=FILLED",
        "/v1/orders?status=OPEN",
        f"/v1/orders?market={m}&side=BUY",
        f"/v1/orders?market={m}&status=CANCELED",
        f"/v1/orders?since={since}&until={until}",
        f"/v1/orders?market={m}&since={since}&until={until}&limit=100",
    ]


async def measure(url: str, api_key: str, rounds: int, seed_: int = 7) -> dict[str, Any]:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    rng = random.Random(seed_)
    latencies: list[float] = []

    async def get(path: str) -> dict[str, Any]:
        start = time.perf_counter()
        status, _, body = await conn.request(http_request("GET", host, path, api_key))
        latencies.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {body[:200]!r}")
        page: dict[str, Any] = json.loads(body)
        return page

    # Steady state: the reconciler's start-up sweep over the open orders is done.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _, _, body = await conn.request(http_request("GET", host, "/metrics", None))
        if b"dydx_router_reconcile_duration_seconds_count 0.0" not in body:
            break
        await asyncio.sleep(0.5)
    for _ in range(3):  # warm the caches
        for path in queries(rng):
            await get(path)
    latencies.clear()
    for _ in range(rounds):
        for path in queries(rng):
            page = await get(path)
            for _ in range(3):
                if not page["next_cursor"]:
                    break
                sep = "&" if "?" in path else "?"
                page = await get(f"{path}{sep}cursor={page['next_cursor']}")
    conn.close()
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max_ms": ordered[-1],
    }


def run(pg_url: str, n: int, rounds: int = 60, reseed: bool = False) -> dict[str, Any]:
    import uvloop

    url = database(pg_url, n, reseed)
    with devnet(["--block-time", "1"], "bench-list") as d:
        r = start_router(d, url, "bench-list", {"DYDX_ROUTER_LOG_LEVEL": "WARNING"})
        try:
            result = uvloop.run(measure(r.url, r.api_key, rounds))
        finally:
            stop_router(r)
    print(
        f"list: {n:,} rows, {result['requests']} requests: p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms",
        flush=True,
    )
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--reseed", action="store_true")
    args = p.parse_args()
    with postgres() as pg:
        run(pg, args.rows, args.rounds, args.reseed)


if __name__ == "__main__":
    main()
