"""The standard benchmark scenarios (``make bench``): prints a markdown table of the numbers
against the targets of docs/performance.md and writes it to ``bench/results/latest.md``.

    .venv/bin/python bench/run_all.py [--quick] [--only throughput,latency,paced,official,list]

Scenarios (each on a fresh stack: PostgreSQL, devnet, router):

- **market** (the headline): market orders that fill (0.001 BTC, buys and sells alternating,
  against the devnet's market maker) from 64 clients for 30 s, on a stack configured as
  ``make run`` configures it (the devnet's and the router's defaults: the chain's short-term
  allowance of 2,000 orders per 5 blocks per account, the per-key trade limit, a pool of 16),
  then from one client; with the time from the chain's fill to FILLED in PostgreSQL, how long
  after the load every order is final, and every stored order checked against the indexer's
  fills (``bench/fills.py``). Then the same from 128 clients with the chain's allowance and the
  per-key limit lifted (``--config tuned``): what the stack can do past the chain's allowance.
- **throughput**: as many orders as 256 clients can place in 60 s (devnet ``--short-term-limit``
  raised, so the router's capacity is measured, not the chain's allowance; enough clients to keep
  every stage busy: with fewer, the group commits and the node's coalesced writes are smaller and
  each order costs more CPU: ~1,050/s at 128 clients against ~1,200/s at 256, back to back).
- **latency**: 200 orders/s open-loop for 30 s; router-added latency = client latency minus the
  node's CheckTx time the router reports in ``Server-Timing``.
- **paced**: twice the chain's short-term allowance (the devnet's limit lowered to 200 per 5 blocks
  of 1 s = 40/s; load 80/s): must see zero clob/5001 rejections; the excess waits or gets 429.
- **official**: the same max-throughput load against the official ``dydx-v4-client`` behind a thin
  HTTP wrapper, then against the router, on the same devnet.
- **events**: the event stream's latency and 1,000 idle streams' cost, A/B (``bench/event_ab.py``).
- **list**: ``GET /v1/orders`` with filters and cursors over 10 million rows
  (``bench/list_orders.py``).
- **replicas**: one router replica against three on one database (``bench/replicas.py``, short:
  10 s of short-term quotes, then 60 stateful orders, timestamp nonces): throughput and the
  routers' CPU per order. On this 2-core machine three replicas share the same cores with
  PostgreSQL, the devnet and the load client: they cannot add throughput here (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402
from bench import event_ab, list_orders, replicas  # noqa: E402
from bench.fills import FillTarget, run_market_report, stream_drops  # noqa: E402
from bench.loadgen import LoadResult, order_bodies, print_result, run_load  # noqa: E402
from bench.official import official_wrapper  # noqa: E402
from bench.results_table import (  # noqa: E402
    Row,
    host_speed_ms,
    market_rows,
    render,
    replica_rows,
)
from bench.stack import FUNDS_USDC, MAKE_RUN_ENV, Stack, postgres, stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FAST_DEVNET = ["--block-time", "1", "--short-term-limit", "1000000"]
PACED_LIMIT = 200  # short-term orders + cancels per 5 blocks
PACED_DEVNET = ["--block-time", "1", "--short-term-limit", str(PACED_LIMIT)]


def load(
    s: Stack,
    url: str | None = None,
    wrapper_pid: int | None = None,
    kind: str = "quote",
    **kwargs: Any,
) -> LoadResult:
    """The load against the router, or against ``url`` (the official client's wrapper)."""

    async def go() -> LoadResult:
        bodies = await order_bodies(s.url, s.router.api_key, kind)
        r = await run_load(
            url or s.url,
            s.router.api_key,
            bodies,
            pid=s.router.process.pid if url is None else wrapper_pid,
            other_pids={"devnet": s.devnet.process.pid},
            **kwargs,
        )
        print_result(r)
        return r

    return uvloop.run(go())


TP_CLIENTS = 256
MARKET_CLIENTS = 64  # as issue 13 measured
MARKET_TUNED_CLIENTS = 128


def market(s: Stack, **kwargs: Any) -> tuple[LoadResult, dict[str, Any]]:
    """Market orders that fill, then bench/fills.py's figures."""
    target = FillTarget(
        s.router.database_url, s.devnet.indexer, s.router.address, s.router.log_path
    )

    async def go() -> tuple[LoadResult, dict[str, Any]]:
        bodies = await order_bodies(s.url, s.router.api_key, "market")
        drops = stream_drops(target.router_log)
        r = await run_load(
            s.url,
            s.router.api_key,
            bodies,
            pid=s.router.process.pid,
            other_pids={"devnet": s.devnet.process.pid},
            **kwargs,
        )
        print_result(r)
        return r, await run_market_report(target, r, drops)

    return uvloop.run(go())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="shorter runs, 1M rows (a smoke test)")
    scenarios = "market,throughput,latency,paced,official,events,list,replicas"
    p.add_argument("--only", default=scenarios)
    args = p.parse_args()
    only = set(args.only.split(","))
    scale = 0.25 if args.quick else 1.0
    rows: list[Row] = []
    details: dict[str, Any] = {}

    speed = [host_speed_ms()]
    with postgres() as pg:
        if "market" in only:
            with stack(pg, [], MAKE_RUN_ENV, name="bench-mkt") as s:
                r, fills = market(
                    s, clients=MARKET_CLIENTS, rate=0, duration=30 * scale, warmup=3,
                    label="market, make run",
                )  # fmt: skip
                one, _ = market(
                    s, clients=1, rate=0, duration=10 * scale, warmup=2, label="market, 1 client"
                )
            details["market"] = {
                "make_run": r.summary() | {"fills": fills},
                "one_client": one.summary(),
            }
            rows += market_rows("make run's defaults", r, fills, one)
            cpu = r.summary()["cpu_us_per_order"]
            rows.append(
                (
                    "CPU per filled order (µs), make run's defaults: router / devnet / "
                    "PostgreSQL / load client",
                    "(measured)",
                    " / ".join(str(cpu.get(k)) for k in ("router", "devnet", "postgres", "client")),
                    "",
                )
            )
            with stack(pg, FAST_DEVNET, name="bench-mkt-tuned") as s:
                r, fills = market(
                    s, clients=MARKET_TUNED_CLIENTS, rate=0, duration=30 * scale, warmup=3,
                    label="market, tuned",
                )  # fmt: skip
            details["market"]["tuned"] = r.summary() | {"fills": fills}
            rows += market_rows("the chain's allowance lifted", r, fills, None)
        if "throughput" in only:
            with stack(pg, FAST_DEVNET, name="bench-tp") as s:
                r = load(
                    s, clients=TP_CLIENTS, rate=0, duration=60 * scale, warmup=5, label="throughput"
                )
            details["throughput"] = r.summary()
            ok = r.throughput >= 1000 and r.error_rate == 0
            rows.append(
                (
                    f"Sustained placement, 60 s, {TP_CLIENTS} clients, every order persisted "
                    "before broadcast",
                    ">= 1,000 orders/s",
                    f"{r.throughput:,.0f} orders/s, errors {r.error_rate:.2%}",
                    "met" if ok else "NOT met",
                )
            )
            rows.append(
                (
                    "Service RSS under load",
                    "<= 250 MB",
                    f"{r.rss_peak_mb:.0f} MB peak",
                    "met" if r.rss_peak_mb <= 250 else "NOT met",
                )
            )
            cpu = r.summary()["cpu_us_per_order"]
            rows.append(
                (
                    "CPU per order (µs): router / devnet / PostgreSQL / load client",
                    "(measured)",
                    " / ".join(str(cpu.get(k)) for k in ("router", "devnet", "postgres", "client")),
                    "",
                )
            )
        if "latency" in only:
            with stack(pg, FAST_DEVNET, name="bench-lat") as s:
                r = load(s, clients=32, rate=200, duration=30 * scale, warmup=3, label="latency")
            details["latency"] = r.summary()
            p50, p99 = r.pct(r.router_ms, 0.5), r.pct(r.router_ms, 0.99)
            rows.append(
                (
                    "Router-added latency at 200 orders/s (p50 / p99)",
                    "<= 5 ms / <= 25 ms",
                    f"{p50:.2f} ms / {p99:.2f} ms (client-seen p50 {r.pct(r.latencies_ms, 0.5):.2f}"
                    f" ms, p99 {r.pct(r.latencies_ms, 0.99):.2f} ms, p99.9 "
                    f"{r.pct(r.latencies_ms, 0.999):.2f} ms)",
                    "met" if p50 <= 5 and p99 <= 25 else "NOT met",
                )
            )
        if "paced" in only:
            allowance = PACED_LIMIT / 5  # per block of 1 s
            with stack(pg, PACED_DEVNET, name="bench-paced") as s:
                r = load(
                    s, clients=32, rate=2 * allowance, duration=40 * scale, warmup=3, label="paced"
                )
            details["paced"] = r.summary()
            rejected_5001 = r.rejections.get("clob/5001", 0)
            throttled = r.statuses.get(429, 0)
            rows.append(
                (
                    f"2x the chain's allowance ({2 * allowance:.0f}/s vs {allowance:.0f}/s)",
                    "0 clob/5001",
                    f"{rejected_5001} clob/5001; {r.ok} placed ({r.throughput:.0f}/s), "
                    f"{throttled} answered 429",
                    "met" if rejected_5001 == 0 else "NOT met",
                )
            )
        if "official" in only:
            # Twice: with the devnet answering at loopback speed, and with 20 ms added to every
            # node call (the devnet's grpc_latency_s switch), as a node across a network answers.
            details["official"] = {}
            with stack(pg, FAST_DEVNET, name="bench-off") as s:
                for latency in (0.0, 0.02):
                    asyncio.run(s.devnet.set_faults(grpc_latency_s=latency))
                    with official_wrapper(s.devnet, FUNDS_USDC) as (url, pid):
                        theirs = load(
                            s, url=url, wrapper_pid=pid, clients=16, rate=0,
                            duration=20 * scale, warmup=3,
                            label=f"official, +{latency * 1000:.0f} ms",
                        )  # fmt: skip
                    ours = load(
                        s, clients=16, rate=0, duration=20 * scale, warmup=3,
                        label=f"router, +{latency * 1000:.0f} ms",
                    )  # fmt: skip
                    details["official"][str(latency)] = {
                        "official": theirs.summary(),
                        "router": ours.summary(),
                    }
                    ratio = ours.throughput / theirs.throughput if theirs.throughput else 0.0
                    rows.append(
                        (
                            f"Router vs the official dydx-v4-client behind a thin HTTP wrapper, "
                            f"16 clients, node latency +{latency * 1000:.0f} ms",
                            ">= 10x",
                            f"{ours.throughput:,.0f} vs {theirs.throughput:,.0f} orders/s = "
                            f"{ratio:.1f}x (p50 {ours.pct(ours.latencies_ms, 0.5):.1f} vs "
                            f"{theirs.pct(theirs.latencies_ms, 0.5):.1f} ms)",
                            "met" if ratio >= 10 else "NOT met",
                        )
                    )
                asyncio.run(s.devnet.reset_faults())
        if "events" in only:
            event_rows, details["events"] = event_ab.scenario(pg, scale)
            rows += event_rows
        if "list" in only:
            n = 1_000_000 if args.quick else 10_000_000
            res = list_orders.run(pg, n)
            details["list"] = res
            rows.append(
                (
                    f"GET /v1/orders (filters + cursor), {n:,} rows (p50 / p99)",
                    "p99 <= 20 ms",
                    f"{res['p50_ms']:.2f} ms / {res['p99_ms']:.2f} ms over {res['requests']} "
                    "requests",
                    "met" if res["p99_ms"] <= 20 else "NOT met",
                )
            )
        if "replicas" in only:
            runs = replicas.run(
                pg, seconds=10 * scale, stateful=max(20, int(60 * scale)), concurrency=24,
                counts=[1, 3], modes=["timestamp_nonce"],
            )  # fmt: skip
            details["replicas"] = dict(runs)
            rows += replica_rows(runs)

    speed.append(host_speed_ms())
    rows.append(
        (
            "Host speed: CPU time of a fixed Python loop, before / after the runs",
            "(measured)",
            " / ".join(f"{ms:.0f} ms" for ms in speed),
            "",
        )
    )
    table = render(rows)
    print()
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(table + "\n")
    (RESULTS / "latest.json").write_text(json.dumps(details, indent=2, default=str) + "\n")
    print(f"\nwritten: {RESULTS / 'latest.md'}")


if __name__ == "__main__":
    main()
