"""The load run of ``bench/load.py`` (and the other load benchmarks): open-loop or back-to-back
``POST /v1/orders`` over keep-alive connections, the order bodies it sends, and its result."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bench.http1 import Connection, chain_ms, get_json, http_request
from bench.stack import cpu_seconds, postgres_cpu_seconds, rss_mb

MARKET_SIZE = "0.001"  # BTC, as the issue measured


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
