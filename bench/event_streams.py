"""One router holding many event streams (``GET /v1/events``): its memory and CPU, and how long
an event takes from its status write to every client.

    .venv/bin/python bench/event_streams.py [--streams 1000] [--watching 20] [--rate 30]
        [--duration 20] [--broadcasts 20]

Starts its own stack (``bench/stack.py``), then opens ``--streams`` streams on one router:
``--watching`` of them with the key that places the orders (they receive every order event), the
rest each with an API key of its own that places nothing (an agent waiting: heartbeats, and the
``trading_state`` events every stream receives). Reported:

- the router's RSS before and after the streams open (per stream), and its CPU while they idle;
- order events, at ``--rate`` placements/s for ``--duration`` s: latency from the status-history
  row's time (``now()`` of the transaction that wrote it: the figure includes the rest of that
  transaction and its commit) to the arrival at a watching client, p50/p99/p99.9 over every
  delivery; the router's CPU and RSS meanwhile; the placements' own latency for scale;
- broadcasts: ``--broadcasts`` kill-switch writes (ACTIVE -> ACTIVE, with a reason), each one
  event to every stream: latency from the write to each of the streams, p50/p99 over all
  deliveries, and the time until the last stream had it.

Client and router share the machine's clock. The client reads every stream in one uvloop
process and timestamps a line as it reads it; on a busy 2-core machine the client's own
scheduling is part of the figure (so it can only overstate the router's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.events import pct  # noqa: E402
from bench.loadgen import order_bodies, run_load  # noqa: E402
from bench.stack import cpu_seconds, postgres, rss_mb, stack  # noqa: E402

from dydx_router.store.api_keys import ApiKeyRepository  # noqa: E402
from dydx_router.store.database import asyncpg_dsn  # noqa: E402


class Stream:
    """One SSE connection on raw asyncio streams; order/trading_state latencies as they arrive."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.orders: list[float] = []
        self.states: dict[str, float] = {}  # reason -> ms
        self.closed = False

    async def run(self) -> None:
        kind = b""
        while True:
            line = await self.reader.readline()
            if not line:
                self.closed = True
                return
            if line.startswith(b"event: "):
                kind = line[7:].strip()
            elif line.startswith(b"data: ") and kind in (b"order", b"trading_state"):
                now = time.time()
                data = json.loads(line[6:])
                ms = (now - datetime.fromisoformat(data["at"]).timestamp()) * 1000
                if kind == b"order":
                    self.orders.append(ms)
                else:
                    self.states[data["reason"]] = ms


async def open_stream(url: str, key: str) -> Stream:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"GET /v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    while (line := await reader.readline()) and b"connected" not in line:
        if line.startswith(b"HTTP/1.1 ") and b" 200 " not in line:
            raise RuntimeError(f"GET /v1/events: {line!r}")
    return Stream(reader, writer)


def cpu_pct(pid: int, seconds: float, before: float) -> float:
    return (cpu_seconds(pid) - before) / seconds * 100


async def main(
    args: argparse.Namespace, url: str, key: str, idle_keys: list[str], pid: int
) -> None:
    bodies = await order_bodies(url, key, "quote")
    await asyncio.sleep(2)
    rss0 = rss_mb(pid)
    start = time.monotonic()
    keys = [key] * args.watching + idle_keys
    streams: list[Stream] = []
    for i in range(0, len(keys), 100):  # a hundred connections at a time
        streams += await asyncio.gather(*(open_stream(url, k) for k in keys[i : i + 100]))
    opened_s = time.monotonic() - start
    tasks = [asyncio.create_task(s.run()) for s in streams]
    await asyncio.sleep(3)
    rss1 = rss_mb(pid)
    print(
        f"{len(streams)} streams open in {opened_s:.1f} s ({args.watching} watching the orders, "
        f"{len(idle_keys)} with keys of their own); router RSS {rss0:.1f} -> {rss1:.1f} MB "
        f"({(rss1 - rss0) * 1024 / len(streams):.1f} KB per stream)"
    )
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(10)
    print(f"router CPU with the streams idle: {cpu_pct(pid, time.monotonic() - t0, cpu0):.1f} %")

    # Order events at --rate placements/s.
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    load = await run_load(url, key, bodies, clients=16, rate=args.rate, duration=args.duration)
    await asyncio.sleep(2)
    load_cpu = cpu_pct(pid, time.monotonic() - t0, cpu0)
    watching = streams[: args.watching]
    latencies = [ms for s in watching for ms in s.orders]
    counts = {len(s.orders) for s in watching}
    print(
        f"order events: {load.sent} orders at {args.rate:g}/s, {len(latencies)} deliveries to "
        f"{len(watching)} streams (per stream: {sorted(counts)}): p50 {pct(latencies, 0.5):.1f} "
        f"ms, p99 {pct(latencies, 0.99):.1f} ms, p99.9 {pct(latencies, 0.999):.1f} ms; "
        f"placement p50 {load.pct(load.latencies_ms, 0.5):.1f} ms, "
        f"p99 {load.pct(load.latencies_ms, 0.99):.1f} ms; router CPU {load_cpu:.1f} %, "
        f"RSS {rss_mb(pid):.1f} MB"
    )

    if args.broadcasts:
        await broadcasts(args, url, key, pid, streams)
    closed = sum(s.closed for s in streams)
    print(f"streams closed by the router: {closed}; router RSS at the end {rss_mb(pid):.1f} MB")
    for t in tasks:
        t.cancel()
    for s in streams:
        with contextlib.suppress(Exception):
            s.writer.close()


async def broadcasts(
    args: argparse.Namespace, url: str, key: str, pid: int, streams: list[Stream]
) -> None:
    """Kill-switch writes: one event to every stream."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
        reasons = []
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        for i in range(args.broadcasts):
            reason = f"bench {i} {uuid.uuid4().hex[:6]}"
            reasons.append(reason)
            resp = await c.post(
                "/v1/admin/trading-state", json={"state": "ACTIVE", "reason": reason}
            )
            resp.raise_for_status()
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        bcast_cpu = cpu_pct(pid, time.monotonic() - t0, cpu0)
    got = [s.states.get(r) for s in streams for r in reasons]
    seen = [ms for ms in got if ms is not None]
    last = [max(s.states.get(r, float("inf")) for s in streams) for r in reasons]
    print(
        f"broadcasts: {args.broadcasts} events x {len(streams)} streams, {len(seen)} of "
        f"{len(got)} delivered: p50 {pct(seen, 0.5):.1f} ms, p99 {pct(seen, 0.99):.1f} ms; "
        f"until the last stream had it: p50 {pct(last, 0.5):.1f} ms, max {max(last):.1f} ms; "
        f"router CPU {bcast_cpu:.1f} % (a write every 0.5 s)"
    )


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--watching", type=int, default=20)
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--broadcasts", type=int, default=20)
    p.add_argument("--devnet-args", default="--block-time 1 --short-term-limit 1000000")
    args = p.parse_args()
    import uvloop

    env = {
        # Opening a thousand streams is a thousand reads: a policy limit, not a capacity.
        "DYDX_ROUTER_RATE_LIMIT_READ_PER_S": "100000",
        "DYDX_ROUTER_RATE_LIMIT_READ_BURST": "100000",
        "DYDX_ROUTER_RATE_LIMIT_ADMIN_PER_S": "1000",
        "DYDX_ROUTER_RATE_LIMIT_ADMIN_BURST": "1000",
    }
    with postgres() as pg, stack(pg, args.devnet_args.split(), env, "bench-streams") as s:
        db = s.router.database_url
        n = max(0, args.streams - args.watching)

        async def keys() -> list[str]:
            conn = await asyncpg.connect(asyncpg_dsn(db))
            try:
                repo = ApiKeyRepository(conn)
                return [(await repo.create(f"agent-{i}", {"read"}))[1] for i in range(n)]
            finally:
                await conn.close()

        idle = asyncio.run(keys())
        uvloop.run(main(args, s.url, s.router.api_key, idle, s.router.process.pid))


if __name__ == "__main__":
    cli()
