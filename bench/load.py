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

The run and the order bodies are in ``bench/loadgen.py``; its client is a minimal HTTP/1.1
keep-alive client (``bench/http1.py``), as a general-purpose one would measure the client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fills import FillTarget, run_market_report, stream_drops  # noqa: E402
from bench.loadgen import order_bodies, print_result, run_load  # noqa: E402
from bench.stack import MAKE_RUN_ENV, TUNED_DEVNET, postgres, stack  # noqa: E402

KINDS = ("market", "quote", "ioc", "stateful")


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
