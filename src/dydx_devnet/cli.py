"""``python -m dydx_devnet``: run the devnet until SIGINT/SIGTERM.

On start-up it prints one line to stdout (flushed) that launchers wait for::

    DEVNET READY grpc=127.0.0.1:P[,...] indexer=http://127.0.0.1:P ws=ws://.../v4/ws admin=U rpc=R

(one line). ``grpc`` lists every validator's address, comma-separated (``--validators N``:
validator i on ``--grpc-port`` + i); ``rpc`` every validator's CometBFT JSON-RPC URL
(``http://127.0.0.1:P``, validator i on ``--rpc-port`` + i). Port 0 picks a free port.
``--block-time 0`` produces blocks only when stepped through the admin API
(``POST /devnet/blocks?n=1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from dydx_devnet.app import Devnet, DevnetConfig
from dydx_devnet.host import TIMEOUT_BROADCAST_TX_COMMIT_S
from dydx_devnet.tx import address_error

app = typer.Typer(add_completion=False, help="A local dYdX v4 node and indexer.")


def parse_fund(values: list[str]) -> tuple[tuple[str, Decimal], ...]:
    """``ADDRESS=USDC`` pairs; a malformed one raises typer.BadParameter."""
    out: list[tuple[str, Decimal]] = []
    for v in values:
        address, sep, amount = v.partition("=")
        try:
            usdc = Decimal(amount)
        except InvalidOperation:
            usdc = Decimal("NaN")
        if not sep or not address or not usdc.is_finite() or usdc <= 0:
            raise typer.BadParameter(f"expected ADDRESS=USDC with a positive amount, got {v!r}")
        err = address_error(address)
        if err is not None:
            raise typer.BadParameter(f"{address!r} is not a dydx address: {err}")
        out.append((address, usdc))
    return tuple(out)


@app.command()
def run(
    grpc_port: Annotated[int, typer.Option(help="gRPC node port (0 = free port).")] = 9090,
    indexer_port: Annotated[int, typer.Option(help="Indexer REST port.")] = 3002,
    ws_port: Annotated[int, typer.Option(help="Indexer websocket port.")] = 3003,
    admin_port: Annotated[int, typer.Option(help="Admin HTTP port (/devnet/...).")] = 3010,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    block_time: Annotated[
        float, typer.Option(help="Seconds between blocks; 0 = only when stepped.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the oracle walk and market makers.")] = 0,
    fund: Annotated[
        list[str] | None, typer.Option(help="ADDRESS=USDC to fund subaccount 0 (repeatable).")
    ] = None,
    short_term_limit: Annotated[
        int, typer.Option(help="Short-term orders+cancels per account per 5 blocks.")
    ] = 2000,
    stateful_scale: Annotated[
        int, typer.Option(help="Multiply the stateful allowance (2/block, 20/100 blocks) by this.")
    ] = 1,
    market_makers: Annotated[bool, typer.Option(help="Run the synthetic market makers.")] = True,
    oracle_walk: Annotated[bool, typer.Option(help="Move oracle prices randomly.")] = True,
    indexer: Annotated[bool, typer.Option(help="Serve the indexer REST/websocket.")] = True,
    validators: Annotated[
        int, typer.Option(help="Validators; validator i serves gRPC on --grpc-port + i.")
    ] = 1,
    rpc_port: Annotated[
        int, typer.Option(help="CometBFT RPC port; validator i on --rpc-port + i (0 = free ports).")
    ] = 26657,
    gossip_delay: Annotated[
        float, typer.Option(help="Seconds before a tx accepted by one validator reaches the rest.")
    ] = 0.2,
    timeout_broadcast_tx_commit: Annotated[
        float,
        typer.Option(
            help="Seconds broadcast_tx_commit waits for the tx's block (CometBFT's "
            "timeout_broadcast_tx_commit)."
        ),
    ] = TIMEOUT_BROADCAST_TX_COMMIT_S,
    smart_account_active: Annotated[
        bool,
        typer.Option(
            help="x/accountplus genesis is_smart_account_active; off, txs selecting "
            "authenticators and authenticator adds/removes are refused."
        ),
    ] = True,
) -> None:
    """Run the devnet until interrupted."""
    if block_time < 0:
        raise typer.BadParameter("--block-time must be >= 0")
    if short_term_limit < 1:
        raise typer.BadParameter("--short-term-limit must be >= 1")
    if stateful_scale < 1:
        raise typer.BadParameter("--stateful-scale must be >= 1")
    if not 1 <= validators <= 64:
        raise typer.BadParameter("--validators must be between 1 and 64")
    if gossip_delay < 0:
        raise typer.BadParameter("--gossip-delay must be >= 0")
    if timeout_broadcast_tx_commit < 0:  # config.go ValidateBasic refuses a negative one
        raise typer.BadParameter("--timeout-broadcast-tx-commit must be >= 0")
    config = DevnetConfig(
        host=host,
        grpc_port=grpc_port,
        indexer_port=indexer_port,
        ws_port=ws_port,
        admin_port=admin_port,
        block_time=block_time,
        seed=seed,
        fund=parse_fund(fund or []),
        short_term_limit=short_term_limit,
        stateful_scale=stateful_scale,
        market_makers=market_makers,
        oracle_walk=oracle_walk,
        validators=validators,
        gossip_delay=gossip_delay,
        rpc_port=rpc_port,
        timeout_broadcast_tx_commit=timeout_broadcast_tx_commit,
        smart_account_active=smart_account_active,
    )
    import uvloop

    uvloop.run(_run(config, with_indexer=indexer))


async def _run(config: DevnetConfig, *, with_indexer: bool) -> None:
    devnet = Devnet(config)
    if with_indexer:
        from dydx_devnet.indexer import create_attachment

        devnet.attach(create_attachment())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await devnet.start()
    # As the router does (its api/app.py): what start-up built lives as long as the process, out
    # of the collector's sight; and a young generation of 50,000 objects, so that the hundreds of
    # short-lived containers of each CheckTx and indexer message do not trigger collections.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    try:
        print(devnet.ready_line(), flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await devnet.stop()


def main() -> None:
    app()
