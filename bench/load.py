"""Order placement under load, over HTTP, against the running service and the devnet.

    .venv/bin/python bench/load.py [--clients 64] [--rate 200] [--duration 30] [--kind market]
        [--config make-run|tuned]
    .venv/bin/python bench/load.py --url http://127.0.0.1:8080 --api-key dxr_... --pid 1234
        [--database-url ... --indexer-url ... --address ...]

Without ``--url`` it starts its own stack (``bench/stack.py``: PostgreSQL, a devnet, the router),
configured as ``make run`` configures it (the default with ``--kind market``) or tuned for the
router's capacity (``--config tuned``, the default for the other kinds). With ``--kind market``
(market orders that fill) it then reports, through ``bench/fills.py``, the time from the chain's
fill to FILLED in PostgreSQL, how long after the load every order was final, every stored order
that differs from the chain's fills, and the status stream's disconnects.

``--clients`` keep-alive connections send ``POST /v1/orders``;
with ``--rate`` > 0 the requests are scheduled open-loop at that rate and each latency is counted
from the request's *scheduled* time, so a stalled service cannot hide its queue (coordinated
omission); ``--rate 0`` sends back to back (maximum throughput).

Reported: orders/s, placement latency p50/p99/p99.9 as the client sees it, the *router-added*
latency (the same minus the time the router spent waiting for the node's CheckTx, which it
returns in ``Server-Timing: chain;dur=``), the error rate (non-2xx or REJECTED), the chain
rejection codes, 429s, connection resets, and the service's peak RSS.

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams: a general-purpose client
costs several times the CPU per request, and on a 2-core machine shared with PostgreSQL, the devnet
and the router that would measure the client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fills import FillTarget, run_market_report, stream_drops  # noqa: E402
from bench.stack import (  # noqa: E402
    MAKE_RUN_ENV,
    TUNED_DEVNET,
    cpu_seconds,
    postgres,
    postgres_cpu_seconds,
    rss_mb,
    stack,
)

KINDS = ("market", "quote", "ioc", "stateful")
MARKET_SIZE = "0.001"  # BTC, as the issue measured


# --- a minimal HTTP/1.1 client ------------------------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(b":")
                headers[k.strip().lower()] = v.strip()
        body = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_request(
    method: str, host: str, path: str, api_key: str | None, body: bytes | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if api_key:
        lines.append(f"Authorization: Bearer {api_key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def chain_ms(headers: dict[bytes, bytes]) -> float:
    timing = headers.get(b"server-timing", b"")
    for part in timing.split(b","):
        name, _, dur = part.strip().partition(b";dur=")
        if name == b"chain":
            return float(dur)
    return 0.0


# --- the run ------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    sent: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    router_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    rss_peak_mb: float = 0.0
    rate: float = 0.0
    clients: int = 0
    # CPU seconds used during the measured window, by process.
    cpu_s: dict[str, float] = field(default_factory=dict)
    # Wall-clock bounds of the whole run, warm-up included (for bench/fills.py).
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    # Requests whose connection the server closed or reset (reopened, the request not retried).
    resets: int = 0

    @property
    def ok(self) -> int:
        return sum(n for o, n in self.outcomes.items() if o in {"SUBMITTED", "OPEN", "FILLED"})

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def error_rate(self) -> float:
        return 1 - self.ok / self.sent if self.sent else 0.0

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "clients": self.clients,
            "target_rate": self.rate,
            "sent": self.sent,
            "orders_per_s": round(self.throughput, 1),
            "p50_ms": round(self.pct(self.latencies_ms, 0.50), 2),
            "p99_ms": round(self.pct(self.latencies_ms, 0.99), 2),
            "p999_ms": round(self.pct(self.latencies_ms, 0.999), 2),
            "router_p50_ms": round(self.pct(self.router_ms, 0.50), 2),
            "router_p99_ms": round(self.pct(self.router_ms, 0.99), 2),
            "chain_p50_ms": round(
                statistics.median(
                    [a - b for a, b in zip(self.latencies_ms, self.router_ms, strict=True)]
                ),
                2,
            )
            if self.latencies_ms
            else None,
            "error_rate": round(self.error_rate, 4),
            "http_statuses": dict(self.statuses),
            "outcomes": dict(self.outcomes),
            "rejections": dict(self.rejections),
            "rss_peak_mb": round(self.rss_peak_mb, 1),
            "connection_resets": self.resets,
            "cpu_us_per_order": {
                k: round(v / self.ok * 1e6) if self.ok else None for k, v in self.cpu_s.items()
            },
        }


async def _rss_sampler(pid: int | None, result: LoadResult, stop: asyncio.Event) -> None:
    if pid is None:
        return
    while not stop.is_set():
        with contextlib.suppress(OSError):
            result.rss_peak_mb = max(result.rss_peak_mb, rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run_load(
    url: str,
    api_key: str,
    bodies: list[bytes],
    *,
    clients: int,
    rate: float,
    duration: float,
    pid: int | None = None,
    label: str = "",
    warmup: float = 2.0,
    other_pids: dict[str, int] | None = None,
) -> LoadResult:
    """Place orders for ``duration`` seconds (after ``warmup`` seconds not counted)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [http_request("POST", f"{host}:{port}", "/v1/orders", api_key, b) for b in bodies]
    result = LoadResult(label=label, rate=rate, clients=clients)
    conns = [Connection(host, port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    counter = 0
    result.started_at = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + duration
    stop = asyncio.Event()
    sampler = asyncio.create_task(_rss_sampler(pid, result, stop))
    pids = {"router": pid, **(other_pids or {}), "client": os.getpid()}

    def cpu_now() -> dict[str, float]:
        now = {k: cpu_seconds(p) for k, p in pids.items() if p is not None}
        now["postgres"] = postgres_cpu_seconds()
        return now

    cpu_start: dict[str, float] = {}

    async def mark_start() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_start.update(cpu_now())

    marker = asyncio.create_task(mark_start())

    async def client(conn: Connection) -> None:
        nonlocal counter
        while True:
            i = counter
            counter += 1
            if rate > 0:
                scheduled = start + i / rate
                if scheduled >= end:
                    return
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                scheduled = time.perf_counter()
                if scheduled >= end:
                    return
            try:
                status, headers, body = await conn.request(requests[i % len(requests)])
            except (ConnectionError, asyncio.IncompleteReadError):
                conn.close()
                if scheduled >= measure_from:
                    result.sent += 1
                    result.resets += 1
                    result.outcomes["connection_reset"] += 1
                continue
            done = time.perf_counter()
            if scheduled < measure_from:
                continue
            result.sent += 1
            result.statuses[status] += 1
            total_ms = (done - scheduled) * 1000
            result.latencies_ms.append(total_ms)
            result.router_ms.append(max(0.0, total_ms - chain_ms(headers)))
            if status in (200, 201, 202):
                order = json.loads(body)
                result.outcomes[order["status"]] += 1
                err = order.get("error")
                if err:
                    result.rejections[f"{err['codespace']}/{err['code']}"] += 1
            else:
                try:
                    code = json.loads(body)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = str(status)
                result.outcomes[f"http_{status}"] += 1
                result.rejections[code] += 1

    await asyncio.gather(*(client(c) for c in conns))
    result.ended_at = dt.datetime.now(dt.UTC)
    result.elapsed_s = (
        max(time.perf_counter(), end) - measure_from
        if rate > 0
        else time.perf_counter() - measure_from
    )
    stop.set()
    await sampler
    await marker
    cpu_end = cpu_now()
    result.cpu_s = {k: cpu_end[k] - cpu_start.get(k, 0.0) for k in cpu_end}
    for c in conns:
        c.close()
    return result


# --- order bodies -------------------------------------------------------------------------------


async def get_json(url: str, path: str, api_key: str | None) -> Any:
    parts = urlsplit(url)
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    raw = http_request("GET", f"{parts.hostname}:{parts.port}", path, api_key)
    status, _, body = await conn.request(raw)
    conn.close()
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


async def order_bodies(url: str, api_key: str, kind: str, market: str = "BTC-USD") -> list[bytes]:
    """Orders that CheckTx accepts and that build no position.

    - ``market``: market orders of one step (0.001 BTC) that fill against the devnet's market
      maker (``dydx_devnet/simulation.py``: five levels a side around the oracle price, ~25,000
      USDC each, quoted again every block in which one was taken), buys and sells alternating
      so the position stays flat.
    - ``quote``: short-term post-only limit buys at half the oracle price, good for 10 blocks,
      resting on the book until they expire: a market maker's quotes.
    - ``ioc``: short-term IOC limit buys at half the oracle price: nothing to match, gone at once.
    - ``stateful``: long-term limit buys (one account sequence each, through the one writer).
    """
    markets = (await get_json(url, "/v1/markets", api_key))["markets"]
    spec = next(m for m in markets if m["market"] == market)
    oracle = Decimal(spec["oracle_price"])
    step = Decimal(spec["step_size"])
    tick = Decimal(spec["tick_size"])
    if kind == "market":
        return [
            json.dumps(
                {"market": market, "side": side, "type": "MARKET", "size": MARKET_SIZE}
            ).encode()
            for side in ("BUY", "SELL")
        ]
    out = []
    for i in range(16):  # a few different prices, as quotes would have
        price = ((oracle / 2 - i * tick) / tick).to_integral_value() * tick
        body: dict[str, Any] = {
            "market": market,
            "side": "BUY",
            "type": "LIMIT",
            "size": str(step),
            "price": str(price),
        }
        if kind == "quote":
            body |= {"good_til_blocks": 10, "post_only": True}
        elif kind == "ioc":
            body |= {"good_til_blocks": 10, "time_in_force": "IOC"}
        else:
            body |= {"good_til_seconds": 120}
        out.append(json.dumps(body).encode())
    return out


# --- reporting ----------------------------------------------------------------------------------


def print_result(r: LoadResult) -> None:
    s = r.summary()
    print(
        f"{s['label'] or 'load'}: {s['orders_per_s']:,.0f} orders/s ({s['sent']} sent, "
        f"{s['clients']} clients, target {s['target_rate'] or 'max'}/s) | latency p50 "
        f"{s['p50_ms']} ms p99 {s['p99_ms']} ms p99.9 {s['p999_ms']} ms | router-added p50 "
        f"{s['router_p50_ms']} ms p99 {s['router_p99_ms']} ms | errors {s['error_rate']:.2%} "
        f"| RSS {s['rss_peak_mb']} MB",
        flush=True,
    )
    print(f"  CPU µs per order: {s['cpu_us_per_order']}", flush=True)
    if s["rejections"] or len(s["http_statuses"]) > 1:
        print(f"  statuses {s['http_statuses']} outcomes {s['outcomes']} "
              f"rejections {s['rejections']}", flush=True)  # fmt: skip


async def _run_cli(
    args: argparse.Namespace, url: str, api_key: str, pid: int | None, target: FillTarget | None
) -> None:
    bodies = await order_bodies(url, api_key, args.kind, args.market)
    drops = stream_drops(target.router_log if target else None)
    result = await run_load(
        url,
        api_key,
        bodies,
        clients=args.clients,
        rate=args.rate,
        duration=args.duration,
        pid=pid,
        label=args.kind,
        warmup=args.warmup,
        other_pids={"devnet": args.devnet_pid} if args.devnet_pid else None,
    )
    print_result(result)
    summary = result.summary()
    if args.kind == "market" and target is not None:
        summary["fills"] = await run_market_report(target, result, drops)
    if args.json:
        print(json.dumps(summary))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running router (default: start a stack)")
    p.add_argument("--api-key", help="an API key with the trade scope (with --url)")
    p.add_argument("--pid", type=int, help="the router's pid, for its RSS (with --url)")
    p.add_argument("--database-url", help="the router's database (with --url, --kind market)")
    p.add_argument("--indexer-url", help="the indexer's REST URL (with --url, --kind market)")
    p.add_argument("--address", help="the router's wallet address (with --url, --kind market)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--rate", type=float, default=0.0, help="orders/s; 0 = as fast as possible")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--kind", choices=KINDS, default="market")
    p.add_argument("--market", default="BTC-USD")
    p.add_argument(
        "--config",
        choices=("make-run", "tuned"),
        help="the stack this script starts: as `make run` starts it (the devnet's and the "
        "router's defaults; the default with --kind market), or tuned for the router's capacity "
        "(the chain's short-term allowance and the per-key trade limit lifted, a pool of 32)",
    )
    p.add_argument("--devnet-args", help="arguments of the devnet (default: from --config)")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p.add_argument(
        "--profile",
        help="write a py-spy profile of the router under load to this file (.svg flame graph, "
        ".txt collapsed stacks)",
    )
    p.add_argument("--profile-devnet", help="the same for the devnet")
    args = p.parse_args()
    import uvloop

    args.devnet_pid = None
    if args.url:
        target = None
        if args.database_url and args.indexer_url and args.address:
            target = FillTarget(args.database_url, args.indexer_url, args.address)
        uvloop.run(_run_cli(args, args.url, args.api_key, args.pid, target))
        return
    config = args.config or ("make-run" if args.kind == "market" else "tuned")
    devnet_args = args.devnet_args
    if devnet_args is None:
        devnet_args = "" if config == "make-run" else " ".join(TUNED_DEVNET)
    router_env = MAKE_RUN_ENV if config == "make-run" else None
    with postgres() as pg, stack(pg, devnet_args.split(), router_env) as s:
        args.devnet_pid = s.devnet.process.pid
        target = FillTarget(
            s.router.database_url, s.devnet.indexer, s.router.address, s.router.log_path
        )
        seconds = args.warmup + args.duration
        with (
            profiling(args.profile, s.router.process.pid, seconds),
            profiling(args.profile_devnet, s.devnet.process.pid, seconds),
        ):
            uvloop.run(_run_cli(args, s.url, s.router.api_key, s.router.process.pid, target))


@contextlib.contextmanager
def profiling(path: str | None, pid: int, seconds: float) -> Any:
    """py-spy sampling the router while the load runs (docs/performance.md)."""
    if not path:
        yield
        return
    import subprocess

    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.Popen(
        [str(spy), "record", "-p", str(pid), "-o", path, "-d", str(int(seconds)), "-r", "200"]
        + (["--format", "raw"] if path.endswith(".txt") else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        yield
    finally:
        proc.wait(timeout=120)


if __name__ == "__main__":
    main()
