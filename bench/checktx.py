"""CheckTx throughput of the devnet for signed short-term orders: in process and over gRPC.

    .venv/bin/python bench/checktx.py [--n 10000] [--accounts 10] [--concurrency 64]

In process: `Engine.check_tx` on pre-signed txs (decode, ValidateBasic, signature verification,
rate limits, stateful validation, memclob placement), with the market makers on.
Over gRPC: a `python -m dydx_devnet` subprocess (1 s blocks), first without then with the
indexer attached (it projects every order event), and a grpc.aio client keeping
``--concurrency`` BroadcastTx calls in flight. The devnet's own CPU time per tx is printed too:
the client runs on the same (small) machine.

Orders alternate between resting post-only limit orders and IOC orders that cross the market
makers' quotes, across ``--accounts`` accounts (the per-account limit is 2000 short-term
orders+cancels per 5 blocks, so each account sends fewer than that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import subprocess
import sys
import time
from decimal import Decimal

import grpc
import httpx
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc

from dydx_devnet.engine import Engine
from dydx_devnet.events import EventBus
from dydx_devnet.genesis import default_genesis
from dydx_devnet.state import ChainState
from dydx_router.chain import tx as T
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Side

CHAIN_ID = "localdydxprotocol"
BTC_TICK = 100_000


def wallets(n: int) -> list[Wallet]:
    return [Wallet((50_000 + i).to_bytes(32, "big")) for i in range(n)]


def signed_orders(
    ws: list[Wallet],
    account_numbers: dict[str, int],
    n: int,
    height: int,
    oracle_subticks: int,
) -> list[bytes]:
    out = []
    below = (oracle_subticks * 95 // 100) // BTC_TICK * BTC_TICK
    above = (oracle_subticks * 105 // 100) // BTC_TICK * BTC_TICK
    for i in range(n):
        w = ws[i % len(ws)]
        oid = T.ChainOrderId(w.address, 0, i + 1, 0, T.OrderFlags.SHORT_TERM)
        if i % 2:
            msg = T.place_order(
                oid,
                side=Side.BUY,
                quantums=1_000_000,
                subticks=above,
                time_in_force=T.TimeInForce.IOC,
                good_til_block=height + 20,
            )
        else:
            msg = T.place_order(
                oid,
                side=Side.BUY,
                quantums=1_000_000,
                subticks=below - (i % 50) * BTC_TICK,
                time_in_force=T.TimeInForce.POST_ONLY,
                good_til_block=height + 20,
            )
        stx = T.sign_tx(
            w, [msg], chain_id=CHAIN_ID, account_number=account_numbers[w.address], sequence=0
        )
        out.append(stx.tx_bytes)
    return out


def in_process(n: int, accounts: int) -> None:
    state = ChainState(default_genesis(), int(time.time() * 1000))
    engine = Engine(state, EventBus(), seed=1)
    ws = wallets(accounts)
    for w in ws:
        engine.fund(w.address, 0, Decimal(10_000_000))
    engine.commit_block()
    engine.commit_block()
    numbers = {w.address: state.accounts[w.address].account_number for w in ws}
    market = state.market(0)
    assert market is not None
    oracle = round(market.oracle_subticks(state.oracle_price(0)))
    txs = signed_orders(ws, numbers, n, state.height, oracle)
    t0 = time.perf_counter()
    results = [engine.check_tx(tx) for tx in txs]
    dt = time.perf_counter() - t0
    bad = [r for r in results if r.code != 0]
    print(f"in-process: {n} CheckTx in {dt:.3f} s = {n / dt:,.0f} tx/s ({dt / n * 1e6:.1f} µs/tx)")
    if bad:
        print(f"  {len(bad)} rejected, e.g. {bad[0]}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_devnet(extra: list[str]) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    args = [sys.executable, "-m", "dydx_devnet", "--grpc-port", "0", "--indexer-port", "0"]
    args += ["--ws-port", "0", "--admin-port", "0", "--rpc-port", "0"]
    args += ["--block-time", "1", "--seed", "1", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            buf += os.read(proc.stdout.fileno(), 4096)
            for line in buf.decode().splitlines():
                if line.startswith("DEVNET READY"):
                    return proc, dict(p.split("=", 1) for p in line.split()[2:])
    proc.kill()
    raise RuntimeError("devnet did not start")


async def over_grpc(n: int, accounts: int, concurrency: int, *, indexer: bool) -> None:
    proc, ep = start_devnet([] if indexer else ["--no-indexer"])
    label = "node + indexer" if indexer else "node only"
    try:
        ws = wallets(accounts)
        async with httpx.AsyncClient(base_url=ep["admin"], timeout=10) as admin:
            for w in ws:
                r = await admin.post(
                    "/devnet/fund", json={"address": w.address, "amount": "10000000"}
                )
                r.raise_for_status()
            await admin.post("/devnet/blocks", params={"n": 1})
        async with grpc.aio.insecure_channel(ep["grpc"]) as ch:
            numbers = {}
            for w in ws:
                resp = await auth_grpc.QueryStub(ch).Account(
                    auth_query.QueryAccountRequest(address=w.address), timeout=10
                )
                acc = auth_pb2.BaseAccount()
                resp.account.Unpack(acc)
                numbers[w.address] = acc.account_number
            block = await tm_grpc.ServiceStub(ch).GetLatestBlock(
                tm_query.GetLatestBlockRequest(), timeout=10
            )
            price = await prices_grpc.QueryStub(ch).MarketPrice(
                prices_query.QueryMarketPriceRequest(id=0), timeout=10
            )
            # BTC: oracle exponent -5 makes the price integer equal to subticks
            txs = signed_orders(ws, numbers, n, block.block.header.height, price.market_price.price)
            stub = tx_grpc.ServiceStub(ch)
            sem = asyncio.Semaphore(concurrency)
            codes: list[int] = []

            async def send(tx: bytes) -> None:
                async with sem:
                    r = await stub.BroadcastTx(
                        tx_service.BroadcastTxRequest(
                            tx_bytes=tx, mode=tx_service.BROADCAST_MODE_SYNC
                        ),
                        timeout=30,
                    )
                    codes.append(r.tx_response.code)

            cpu0 = process_cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            await asyncio.gather(*(send(tx) for tx in txs))
            dt = time.perf_counter() - t0
            server_cpu = process_cpu_seconds(proc.pid) - cpu0
        rejected = sum(1 for c in codes if c != 0)
        print(
            f"over gRPC, {label}: {n} BroadcastTx in {dt:.3f} s = {n / dt:,.0f} tx/s "
            f"(concurrency {concurrency}, {rejected} rejected)"
        )
        print(
            f"  devnet process CPU: {server_cpu:.3f} s = {server_cpu / n * 1e6:.0f} µs/tx, "
            f"i.e. {n / server_cpu:,.0f} tx/s per core (the client shares this machine)"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--accounts", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=16)
    a = p.parse_args()
    in_process(a.n, a.accounts)
    asyncio.run(over_grpc(a.n, a.accounts, a.concurrency, indexer=False))
    asyncio.run(over_grpc(a.n, a.accounts, a.concurrency, indexer=True))


if __name__ == "__main__":
    main()
