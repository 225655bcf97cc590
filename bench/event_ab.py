"""The event stream's two targets, A/B in one run: event latency and placement throughput on one
router without idle streams (A) and with ``--streams`` idle streams open (B), alternating.

    .venv/bin/python bench/event_ab.py [--pairs 3] [--streams 1000] [--rate 30] [--duration 10]

Each pair runs A then B back to back on the same stack (this machine is shared and noisy: a pair's
two halves are seconds apart, the pairs minutes apart). In each half:

- **latency**: one stream with the placing key reads every order event while orders are placed at
  ``--rate``/s (resting quotes: PENDING, SUBMITTED, OPEN, then EXPIRED). Two figures per event,
  the client's arrival time minus (1) ``committed_at``, the ``clock_timestamp()`` a deferred
  trigger records at the end of the writing transaction (installed by this benchmark in its own
  database only; its commit's WAL flush follows, so this counts the commit too): *from the
  status write to the event at the client*, the target's measure; (2) the row's ``at``, the
  ``now()`` of the writing transaction, taken at its start: the figure above plus the rest of
  that transaction (a grouped write waits for its group). Client and router share the clock.
- **throughput**: placements as fast as ``--clients`` connections go for ``--duration`` s, the
  deferred trigger disabled (it is the benchmark's, not the router's cost).

In B, the ``--streams`` idle streams (each with an API key of its own that places nothing: a
thousand waiting agents, heartbeats only) are open during both measures of the half.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.event_streams import Stream, open_stream  # noqa: E402
from bench.events import pct  # noqa: E402
from bench.loadgen import order_bodies, run_load  # noqa: E402
from bench.stack import Stack  # noqa: E402

from dydx_router.store.api_keys import ApiKeyRepository  # noqa: E402
from dydx_router.store.database import asyncpg_dsn  # noqa: E402

# Opening a thousand streams is a thousand reads: a policy limit, not a capacity.
ENV = {"DYDX_ROUTER_RATE_LIMIT_READ_PER_S": "100000", "DYDX_ROUTER_RATE_LIMIT_READ_BURST": "100000"}

_COMMIT_STAMP = """
CREATE FUNCTION bench_event_committed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE events SET payload = payload || jsonb_build_object('committed_at', clock_timestamp())
    WHERE seq = NEW.seq;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER bench_event_committed_at AFTER INSERT ON events
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_event_committed_at();
"""


@dataclass
class Half:
    streams: int
    from_commit: list[float] = field(default_factory=list)
    from_start: list[float] = field(default_factory=list)
    placements_per_s: float = 0.0
    placement_p99_ms: float = 0.0
    paced_placement_p99_ms: float = 0.0  # the placements' own, in the latency window
    # The router's CPU time per placed order in the throughput run: less swayed than the
    # throughput by what else the shared machine runs.
    router_cpu_us: float = 0.0
    load_avg: float = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "idle_streams": self.streams,
            "events": len(self.from_commit),
            "commit_p50_ms": round(pct(self.from_commit, 0.5), 1),
            "commit_p99_ms": round(pct(self.from_commit, 0.99), 1),
            "start_p50_ms": round(pct(self.from_start, 0.5), 1),
            "start_p99_ms": round(pct(self.from_start, 0.99), 1),
            "paced_placement_p99_ms": round(self.paced_placement_p99_ms, 1),
            "orders_per_s": round(self.placements_per_s, 1),
            "placement_p99_ms": round(self.placement_p99_ms, 1),
            "router_cpu_us_per_order": round(self.router_cpu_us),
            "load_avg_1m": round(self.load_avg, 2),
        }


class Watcher(Stream):
    """A stream recording both latencies of every order event."""

    def __init__(self, s: Stream) -> None:
        super().__init__(s.reader, s.writer)
        self.half: Half | None = None

    async def run(self) -> None:
        kind = b""
        while line := await self.reader.readline():
            if line.startswith(b"event: "):
                kind = line[7:].strip()
            elif line.startswith(b"data: ") and kind == b"order" and self.half is not None:
                now = time.time()
                data = json.loads(line[6:])
                if "committed_at" in data:  # written while the stamp was on
                    committed = datetime.fromisoformat(data["committed_at"]).timestamp()
                    self.half.from_commit.append((now - committed) * 1000)
                    at = datetime.fromisoformat(data["at"]).timestamp()
                    self.half.from_start.append((now - at) * 1000)
        self.closed = True


async def stamp(db: str, on: bool) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        verb = "ENABLE" if on else "DISABLE"
        await conn.execute(f"ALTER TABLE events {verb} TRIGGER bench_event_committed_at")
    finally:
        await conn.close()


async def run_half(args: argparse.Namespace, s: Stack, idle: list[str], half: Half) -> None:
    url, key, pid = s.url, s.router.api_key, s.router.process.pid
    bodies = await order_bodies(url, key, "quote")
    streams: list[Stream] = []
    for i in range(0, len(idle), 100):  # a hundred connections at a time
        streams += await asyncio.gather(*(open_stream(url, k) for k in idle[i : i + 100]))
    drains = [asyncio.create_task(st.run()) for st in streams]
    watcher = Watcher(await open_stream(url, key))
    reading = asyncio.create_task(watcher.run())
    try:
        await asyncio.sleep(1)
        await stamp(s.router.database_url, True)
        watcher.half = half
        lat = await run_load(
            url, key, bodies, clients=16, rate=args.rate, duration=args.duration, pid=pid
        )
        await asyncio.sleep(1.5)  # the last events of the window
        watcher.half = None
        await stamp(s.router.database_url, False)
        half.paced_placement_p99_ms = lat.pct(lat.latencies_ms, 0.99)
        half.load_avg = os.getloadavg()[0]
        r = await run_load(
            url, key, bodies, clients=args.clients, rate=0, duration=args.duration, pid=pid
        )
        half.placements_per_s = r.throughput
        half.placement_p99_ms = r.pct(r.latencies_ms, 0.99)
        half.router_cpu_us = r.cpu_s.get("router", 0.0) / r.ok * 1e6 if r.ok else 0.0
        closed = sum(st.closed for st in streams)
        if closed:
            raise RuntimeError(f"{closed} idle streams closed by the router")
    finally:
        for t in [*drains, reading]:
            t.cancel()
        for st in [*streams, watcher]:
            with contextlib.suppress(Exception):
                st.writer.close()
        # The router sees the streams go, and the quotes of the throughput run (good for 10
        # blocks of 1 s) expire before the next half's latency window, not during it.
        await asyncio.sleep(args.settle)


async def make_keys(db: str, n: int) -> list[str]:
    conn = await asyncpg.connect(asyncpg_dsn(db))
    try:
        await conn.execute(_COMMIT_STAMP)
        repo = ApiKeyRepository(conn)
        return [(await repo.create(f"agent-{i}", {"read"}))[1] for i in range(n)]
    finally:
        await conn.close()


def run(args: argparse.Namespace, s: Stack) -> list[tuple[Half, Half]]:
    """``args.pairs`` A/B pairs on ``s`` (a stack started with ``ENV``), printed as they end."""
    import uvloop

    idle = asyncio.run(make_keys(s.router.database_url, args.streams))
    pairs: list[tuple[Half, Half]] = []
    for i in range(args.pairs):
        a, b = Half(0), Half(args.streams)
        uvloop.run(run_half(args, s, [], a))
        uvloop.run(run_half(args, s, idle, b))
        pairs.append((a, b))
        for h in (a, b):
            print(f"pair {i + 1}: {json.dumps(h.row())}", flush=True)
    return pairs


def summary(pairs: list[tuple[Half, Half]]) -> dict[str, Any]:
    """Per condition: every event of every pair pooled; throughput change per pair."""
    out: dict[str, Any] = {"pairs": [[a.row(), b.row()] for a, b in pairs]}
    for name, idx in (("none", 0), ("streams", 1)):
        halves = [p[idx] for p in pairs]
        commit = [ms for h in halves for ms in h.from_commit]
        start = [ms for h in halves for ms in h.from_start]
        out[name] = {
            "events": len(commit),
            "commit_p50_ms": round(pct(commit, 0.5), 1),
            "commit_p99_ms": round(pct(commit, 0.99), 1),
            "start_p50_ms": round(pct(start, 0.5), 1),
            "start_p99_ms": round(pct(start, 0.99), 1),
            "best_pair_commit_p99_ms": round(min(pct(h.from_commit, 0.99) for h in halves), 1),
        }
    out["throughput_change_pct"] = [
        round((b.placements_per_s - a.placements_per_s) / a.placements_per_s * 100, 1)
        for a, b in pairs
        if a.placements_per_s
    ]
    out["router_cpu_change_pct"] = [
        round((b.router_cpu_us - a.router_cpu_us) / a.router_cpu_us * 100, 1)
        for a, b in pairs
        if a.router_cpu_us
    ]
    changes = out["throughput_change_pct"]
    out["throughput_change_median_pct"] = statistics.median(changes) if changes else None
    return out


def scenario(pg: str, scale: float) -> tuple[list[tuple[str, str, str, str]], dict[str, Any]]:
    """``make bench``'s rows (bench/run_all.py): three pairs, each half 10 s a measure."""
    from bench.run_all import FAST_DEVNET
    from bench.stack import stack

    args = parser().parse_args(["--duration", str(max(3.0, 10 * scale))])
    with stack(pg, FAST_DEVNET, ENV, "bench-event-ab") as s:
        pairs = run(args, s)
    res = summary(pairs)
    a, b = res["none"], res["streams"]
    avgs = [h.load_avg for p in pairs for h in p]
    loads = f"{min(avgs):.1f}-{max(avgs):.1f}"
    per_pair = ", ".join(f"{p[1].row()['commit_p99_ms']}" for p in pairs)
    rows = [
        (
            f"Order event latency, the status write's commit -> client, {args.rate:g} "
            f"placements/s, one router with {args.streams:,} idle streams (p50 / p99; "
            f"{len(pairs)} pairs pooled)",
            "p99 <= 50 ms",
            f"{b['commit_p50_ms']} / {b['commit_p99_ms']} ms (p99 per pair: {per_pair}; from "
            f"the transaction's start {b['start_p99_ms']} ms; no idle streams: "
            f"{a['commit_p50_ms']} / {a['commit_p99_ms']} ms); load average {loads}",
            "met" if b["commit_p99_ms"] <= 50 else "NOT met",
        )
    ]
    tp = ", ".join(f"{x.placements_per_s:.0f} / {y.placements_per_s:.0f}" for x, y in pairs)
    median = res["throughput_change_median_pct"]
    rows.append(
        (
            f"Placements/s without / with {args.streams:,} idle streams ({args.clients} "
            "clients, A/B pairs back to back)",
            "<= 5 % slower",
            f"{tp} (median change {median:+.1f} %; router CPU per order "
            f"{', '.join(f'{c:+.1f} %' for c in res['router_cpu_change_pct'])})",
            "met" if median is not None and median >= -5 else "NOT met",
        )
    )
    return rows, res


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--settle", type=float, default=13.0, help="seconds between halves")
    return p


def cli() -> None:
    from bench.run_all import FAST_DEVNET
    from bench.stack import postgres, stack

    args = parser().parse_args()
    with postgres() as pg, stack(pg, FAST_DEVNET, ENV, "bench-event-ab") as s:
        pairs = run(args, s)
    print(json.dumps(summary(pairs), indent=2))


if __name__ == "__main__":
    cli()
