"""``dydx-router keys grant|list|revoke|address``: permissioned trading keys (x/accountplus).

The owner's mnemonic is read once, from ``--owner-mnemonic-file`` or a hidden prompt, used to
sign the one grant or revoke tx, and dropped; it is never stored or printed. The node and chain
come from the usual settings (``DYDX_ROUTER_NETWORK``, ``DYDX_ROUTER_NODE_ENDPOINTS``,
``DYDX_ROUTER_CHAIN_ID``). See docs/permissioned-keys.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import SecretStr

from dydx_router.config import ConfigError, Settings, load_settings

app = typer.Typer(
    no_args_is_help=True,
    help="Permissioned trading keys: let a key trade for an account, and nothing else.",
)
T = TypeVar("T")

OwnerFile = Annotated[
    Path | None,
    typer.Option(
        "--owner-mnemonic-file",
        help="A file holding the owner's mnemonic (read once, never stored); default: prompt.",
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(f"configuration: {exc}")


def _owner(path: Path | None) -> Any:
    from dydx_router.chain.errors import InvalidMnemonic
    from dydx_router.chain.wallet import Wallet

    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}")
    else:
        # on stderr: `OWNER=$(dydx-router keys address)` captures only the address
        text = typer.prompt("Owner's mnemonic (not echoed, not stored)", hide_input=True, err=True)
    try:
        return Wallet.from_mnemonic(SecretStr(text))
    except InvalidMnemonic as exc:
        _fail(str(exc))


def _with_node(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from dydx_router.chain.errors import ChainError
    from dydx_router.chain.node import NodeClient
    from dydx_router.trading_keys import TradingKeyError

    async def run() -> T:
        async with NodeClient(settings.nodes, timeout=float(settings.node_timeout_s)) as node:
            return await fn(node)

    try:
        return asyncio.run(run())
    except (ChainError, TradingKeyError) as exc:
        _fail(str(exc), 1)


def _subaccounts(text: str) -> list[int]:
    """``--subaccounts``: refused here (a usage error, nothing read or written) unless every
    part is a subaccount number the chain can hold."""
    from dydx_router.trading_keys import TradingKeyError, subaccount_numbers

    try:
        numbers = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        _fail("--subaccounts must be comma-separated integers")
    try:
        return subaccount_numbers(numbers)
    except TradingKeyError as exc:
        _fail(f"--subaccounts: {exc}")


@app.command("grant")
def grant(
    markets: Annotated[str, typer.Option(help="Comma-separated markets, e.g. BTC-USD,ETH-USD.")],
    key_file: Annotated[
        Path, typer.Option(help="Where to write the new trading key (created 0600).")
    ],
    subaccounts: Annotated[str, typer.Option(help="Comma-separated subaccount numbers.")] = "0",
    owner_mnemonic_file: OwnerFile = None,
) -> None:
    """Create a trading key limited to these markets and subaccounts, and register it."""
    from dydx_router import trading_keys

    settings = _settings()
    tickers = [m.strip() for m in markets.split(",") if m.strip()]
    subs = _subaccounts(subaccounts)
    owner = _owner(owner_mnemonic_file)
    g = _with_node(
        settings,
        lambda node: trading_keys.grant(
            node,
            owner,
            chain_id=settings.effective_chain_id,
            markets=tickers,
            subaccounts=subs,
            key_file=key_file,
        ),
    )
    typer.echo(f"authenticator id: {g.authenticator_id}")
    typer.echo(f"owner:            {g.owner_address}")
    typer.echo(f"trading key:      {g.trading_address} (written to {g.key_file}, mode 0600)")
    typer.echo(f"allows:           {g.description}")
    typer.echo(f"tx:               {g.tx_hash}")
    typer.echo("Run the router with:")
    typer.echo(f"  DYDX_ROUTER_OWNER_ADDRESS={g.owner_address}")
    typer.echo(f"  DYDX_ROUTER_AUTHENTICATOR_ID={g.authenticator_id}")
    typer.echo(f"  DYDX_ROUTER_MNEMONIC_FILE={g.key_file.resolve()}")


@app.command("list")
def list_(
    owner: Annotated[
        str | None, typer.Option(help="The owner's address (default: DYDX_ROUTER_OWNER_ADDRESS).")
    ] = None,
) -> None:
    """List the owner's authenticators (no key needed)."""
    from dydx_router import trading_keys

    settings = _settings()
    address = owner or settings.owner_address
    if not address:
        _fail("--owner or DYDX_ROUTER_OWNER_ADDRESS is required")
    found = _with_node(settings, lambda node: trading_keys.authenticators(node, address))
    if not found:
        typer.echo(f"{address} has no authenticators")
    for a in found:
        mark = "  (configured)" if a.id == settings.authenticator_id else ""
        typer.echo(f"{a.id}  {a.description}{mark}")


@app.command("address")
def address(owner_mnemonic_file: OwnerFile = None) -> None:
    """Print the address of the owner's mnemonic (to fund it, or for DYDX_ROUTER_OWNER_ADDRESS)."""
    typer.echo(_owner(owner_mnemonic_file).address)


@app.command("revoke")
def revoke(
    authenticator_id: Annotated[int, typer.Argument(help="The authenticator's id.")],
    owner_mnemonic_file: OwnerFile = None,
) -> None:
    """Remove an authenticator: every tx it would have authenticated is refused from then on."""
    from dydx_router import trading_keys

    settings = _settings()
    owner = _owner(owner_mnemonic_file)
    tx_hash = _with_node(
        settings,
        lambda node: trading_keys.revoke(
            node, owner, authenticator_id, chain_id=settings.effective_chain_id
        ),
    )
    typer.echo(f"revoked authenticator {authenticator_id} of {owner.address} (tx {tx_hash})")
