"""The table of ``bench/run_all.py``: its rows for the market scenario and for bench/replicas.py,
the host-speed probe quoted with them, and the markdown it writes to ``bench/results/latest.md``."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from bench.loadgen import LoadResult

Row = tuple[str, str, str, str]


def market_rows(
    label: str, r: LoadResult, fills: dict[str, Any], one: LoadResult | None
) -> list[Row]:
    rows = []
    rows.append(
        (
            f"Market orders that fill, {label}, {r.clients} clients, {r.elapsed_s:.0f} s",
            ">= 1,000 orders/s",
            f"{r.throughput:,.0f} orders/s, p50 {r.pct(r.latencies_ms, 0.5):.0f} ms, p99 "
            f"{r.pct(r.latencies_ms, 0.99):.0f} ms, errors {r.error_rate:.2%} "
            f"{dict(r.rejections) or ''}",
            "met" if r.throughput >= 1000 and r.error_rate == 0 else "NOT met",
        )
    )
    if one is not None:
        p50 = one.pct(one.latencies_ms, 0.5)
        rows.append(
            (
                f"Market order that fills, {label}, one client (p50 / p99)",
                "p50 <= 10 ms",
                f"{p50:.1f} ms / {one.pct(one.latencies_ms, 0.99):.1f} ms",
                "met" if p50 <= 10 else "NOT met",
            )
        )
    lag_ok = (
        fills["fill_to_filled_during_p99_ms"] <= 2000 and fills["fill_to_filled_p99_ms"] <= 2000
    )
    rows.append(
        (
            f"Chain's fill to FILLED in PostgreSQL, {label} (p50 / p99; during the load, all)",
            "p99 <= 2 s",
            f"during {fills['fill_to_filled_during_p50_ms']:.0f} / "
            f"{fills['fill_to_filled_during_p99_ms']:.0f} ms, all "
            f"{fills['fill_to_filled_p50_ms']:.0f} / {fills['fill_to_filled_p99_ms']:.0f} ms "
            f"(max {fills['fill_to_filled_max_ms']:.0f} ms); every order final "
            f"{fills['drain_s']} s after the load",
            "met" if lag_ok and fills["drain_s"] is not None else "NOT met",
        )
    )
    clean = fills["mismatches"] == 0 and fills["non_final"] == 0
    rows.append(
        (
            f"Stored orders vs the chain's fills after the load, {label}",
            "0 differences",
            f"{fills['mismatches']} differences, {fills['non_final']} not final, "
            f"{fills['filled_on_chain']:,} filled on chain compared"
            + (
                f" ({fills['past_retention']:,} placed before the devnet indexer's oldest kept "
                "fill, not compared)"
                if fills["past_retention"]
                else ""
            ),
            "met" if clean else "NOT met",
        )
    )
    quiet = r.resets == 0 and fills["stream_disconnects"] == 0
    rows.append(
        (
            f"Connection resets / status stream disconnects under load, {label}",
            "0 / 0",
            f"{r.resets} / {fills['stream_disconnects']}",
            "met" if quiet else "NOT met",
        )
    )
    return rows


def replica_rows(runs: list[tuple[str, dict[str, Any]]]) -> list[Row]:
    """One row per phase of bench/replicas.py: 2 cores cannot show three replicas' gain."""
    return [
        (
            f"{name}, all replicas on this machine's 2 cores",
            "(measured)",
            f"{r['per_s']:,.1f} orders/s, router CPU {r['cpu_ms_per_order']:.2f} ms per order "
            f"(all replicas), p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
            f"{r['failed']} failed ({r['sequence_failures']} for a sequence reason)",
            "",
        )
        for name, r in runs
    ]


def host_speed_ms() -> float:
    """The same 3M-iteration loop each time: this machine's cores run it in ~300-460 ms
    depending on the host's load, which shifts every figure above by as much; lower is faster."""
    start = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return (time.process_time() - start) * 1000


def render(rows: list[Row]) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"Benchmarks, {when}, this machine (2 cores; PostgreSQL, devnet, router and load client "
        "on the same box)",
        "",
        "| Scenario | Target | Measured | |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(out)
