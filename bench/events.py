"""The event stream under load: latency from the status write to the event leaving the server,
and placement throughput with idle open streams against none (A/B in one run).

    .venv/bin/python bench/events.py [--rate 100] [--duration 15] [--streams 200] [--rounds 2]

Starts its own stack (``bench/stack.py``). Latency: one stream reads every event while orders
are placed at ``--rate``/s (resting quotes: PENDING, SUBMITTED, OPEN, then EXPIRED); each order
event's latency is its arrival time at the client minus its ``at`` (the time of the
status-history row, ``now()`` of the writing transaction, so the figure includes the rest of
that transaction, its commit, the notification, sequencing, the read and the send). Client and
server share the machine's clock. Throughput: placements as fast as ``--clients`` connections
go, without streams then with ``--streams`` streams open (a read-only key that places nothing:
they get no order events, only their heartbeats), alternating ``--rounds`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import order_bodies, run_load  # noqa: E402
from bench.stack import postgres, stack  # noqa: E402
from tests.fixtures.router import create_key  # noqa: E402

# The writers stay referenced: a collected StreamWriter closes its connection.
_WRITERS: list[asyncio.StreamWriter] = []


async def open_stream(url: str, key: str, path: str = "/v1/events") -> asyncio.StreamReader:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    _WRITERS.append(writer)
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"GET {path}: {status!r}")
    return reader


async def collect(
    reader: asyncio.StreamReader,
    latencies: list[float],
    stop: asyncio.Event,
    by_status: dict[str, list[float]] | None = None,
) -> None:
    """Read events (chunked transfer: size lines are skipped as they are not field lines)."""
    kind = ""
    while not stop.is_set():
        line = await reader.readline()
        if not line:
            return
        now = time.time()
        text = line.decode().rstrip("\r\n")
        if text.startswith("event: "):
            kind = text[7:]
        elif text.startswith("data: ") and kind == "order":
            data = json.loads(text[6:])
            ms = (now - datetime.fromisoformat(data["at"]).timestamp()) * 1000
            latencies.append(ms)
            if by_status is not None:
                by_status.setdefault(data["status"], []).append(ms)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def drain(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await reader.read(65536):
            pass


async def main(args: argparse.Namespace, url: str, key: str, idle_key: str, pid: int) -> None:
    bodies = await order_bodies(url, key, "quote")
    # 1. Latency under a modest load.
    latencies: list[float] = []
    stop = asyncio.Event()
    reader = await open_stream(url, key)
    by_status: dict[str, list[float]] = {}
    task = asyncio.create_task(collect(reader, latencies, stop, by_status))
    load = await run_load(
        url, key, bodies, clients=16, rate=args.rate, duration=args.duration, pid=pid
    )
    await asyncio.sleep(2)
    stop.set()
    task.cancel()
    print(
        f"event latency (status write -> client), {load.sent} orders at {args.rate:g}/s, "
        f"{len(latencies)} order events: p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms, p99.9 {pct(latencies, 0.999):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms; placement p50 "
        f"{load.pct(load.latencies_ms, 0.5):.1f} ms, "
        f"p99 {load.pct(load.latencies_ms, 0.99):.1f} ms in the same window (for scale)"
    )
    for status, values in sorted(by_status.items()):
        print(
            f"  {status:12} {len(values):5} events: p50 {pct(values, 0.5):.1f} ms, "
            f"p99 {pct(values, 0.99):.1f} ms"
        )
    # 2. Placement throughput, no streams vs --streams idle streams, alternating.
    results: dict[str, list[float]] = {"none": [], "streams": []}
    for _ in range(args.rounds):
        for label in ("none", "streams"):
            readers = []
            if label == "streams":
                readers = [await open_stream(url, idle_key) for _ in range(args.streams)]
                drains = [asyncio.create_task(drain(r)) for r in readers]
            r = await run_load(
                url, key, bodies, clients=args.clients, rate=0, duration=args.duration, pid=pid
            )
            results[label].append(r.throughput)
            p99 = r.pct(r.latencies_ms, 0.99)
            print(f"  {label:8} {r.throughput:8.1f} orders/s  p99 {p99:.1f} ms")
            if label == "streams":
                for d in drains:
                    d.cancel()
                for w in _WRITERS:
                    w.close()
                _WRITERS.clear()
    if not args.rounds:
        return
    a = sum(results["none"]) / len(results["none"])
    b = sum(results["streams"]) / len(results["streams"])
    print(
        f"placement throughput: {a:.1f} orders/s without streams, {b:.1f} with "
        f"{args.streams} idle streams ({(b - a) / a * 100:+.1f} %)"
    )


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=15.0)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2, help="A/B rounds (0: latency only)")
    p.add_argument("--devnet-args", default="--block-time 1 --short-term-limit 1000000")
    args = p.parse_args()
    import uvloop

    with postgres() as pg, stack(pg, args.devnet_args.split(), name="bench-events") as s:
        _, idle = asyncio.run(create_key(s.router.database_url, {"read"}, name="idle"))
        uvloop.run(main(args, s.url, s.router.api_key, idle, s.router.process.pid))


if __name__ == "__main__":
    cli()
