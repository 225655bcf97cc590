"""The ``dydx-router`` command line."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer

from dydx_devnet import cli as devnet_cli
from dydx_router.config import ConfigError, Settings, load_settings
from dydx_router.mcp.stdio import mcp_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help="dYdX v4 order router.")
migrate_app = typer.Typer(no_args_is_help=True, help="Apply or roll back database migrations.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
local_app = typer.Typer(no_args_is_help=True, help="Local development environment (make targets).")
app.add_typer(migrate_app, name="migrate")
app.add_typer(keys_app, name="api-keys")
app.add_typer(local_app, name="local")
app.command("mcp", help="Serve the MCP tools over stdio (DYDX_ROUTER_URL, DYDX_ROUTER_API_KEY).")(
    mcp_command
)
# `dydx-router devnet ...` runs the local chain and indexer (the same command as
# `python -m dydx_devnet`).
app.command(
    "devnet", help="Run the local dYdX devnet: a node (gRPC) and an indexer (REST, websocket)."
)(devnet_cli.run)

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def config_errors(func: F) -> F:
    """A wrong or missing setting ends the command with one line naming it, exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            _fail(f"configuration: {exc}")

    return wrapper  # type: ignore[return-value]


def _settings(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
@config_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (DYDX_ROUTER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DYDX_ROUTER_PORT).")] = None,
) -> None:
    """Serve the HTTP API."""
    settings = _settings(host=host, port=port)
    settings.require_database_url()
    _run(_serve(settings))


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the service on uvloop: its C transports cost a fraction of asyncio's per socket write
    (a quarter of the router's CPU under load was in asyncio's ``transport.write``)."""
    import uvloop

    uvloop.run(main)


async def _serve(settings: Settings, on_started: Callable[[str], None] | None = None) -> None:
    import uvicorn

    from dydx_router.api.app import create_app
    from dydx_router.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    if not settings.allow_core_dumps:
        from dydx_router.custody import disable_core_dumps

        disable_core_dumps()  # before the lifespan reads the key: a core file would hold it
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # On SIGTERM uvicorn stops accepting, then waits this long for requests in flight
        # (broadcasts and their DB writes) before the lifespan closes the rest (bootstrap.py).
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) or None,
        # Past this many connections and requests at once uvicorn answers 503 at once instead
        # of queueing without bound (docs/security.md).
        limit_concurrency=settings.max_concurrency,
        # X-Forwarded-For/-Proto are believed only from the listed proxies (none by default:
        # uvicorn would otherwise trust 127.0.0.1). The client address they give is what the
        # auth-failure limit counts (api/auth.py).
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips) or "",
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn exposes no start-up event; poll its flag briefly.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if server.started and on_started is not None:
        port = server.servers[0].sockets[0].getsockname()[1]
        on_started(f"http://{settings.host}:{port}")
    await task
    if not server.started:
        _fail("the API did not start (see the log above)", 1)


@migrate_app.command("up")
@config_errors
def migrate_up(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema to REVISION (default: head)."""
    from dydx_router.store import migrate

    migrate.upgrade(_settings().require_database_url(), revision)


@migrate_app.command("down")
@config_errors
def migrate_down(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Downgrade the schema to REVISION (default: one step; 'base' removes everything)."""
    from dydx_router.store import migrate

    migrate.downgrade(_settings().require_database_url(), revision)


@migrate_app.command("current")
@config_errors
def migrate_current() -> None:
    """Show the schema's current revision."""
    from dydx_router.store import migrate

    migrate.current(_settings().require_database_url())


def _keys_call(fn: Callable[[Any], Any]) -> Any:
    from dydx_router.store.database import create_pool
    from dydx_router.store.uow import UnitOfWork

    async def run() -> Any:
        pool = await create_pool(_settings().require_database_url(), min_size=1, max_size=1)
        try:
            async with UnitOfWork(pool) as uow:
                result = await fn(uow)
                await uow.commit()
                return result
        finally:
            await pool.close()

    return asyncio.run(run())


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@keys_app.command("create")
@config_errors
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key.")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read,trade,admin,orders:all.")
    ] = "read",
    subaccounts: Annotated[
        str | None, typer.Option(help="Comma-separated subaccount numbers (default: all).")
    ] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from dydx_router.domain.errors import DomainError
    from dydx_router.service import admin
    from dydx_router.store.audit import Actor

    try:
        subs = {int(s) for s in _csv(subaccounts)} if subaccounts else None
    except ValueError:
        _fail("--subaccounts must be comma-separated integers")
    try:
        key, secret = _keys_call(
            lambda uow: admin.create_api_key(uow, Actor.cli(), name, set(_csv(scopes)), subs)
        )
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"id:     {key.id}")
    typer.echo(f"scopes: {','.join(sorted(key.scopes))}")
    typer.echo(f"key:    {secret}")
    typer.echo("Store the key now: it cannot be shown again.", err=True)


@keys_app.command("list")
@config_errors
def keys_list() -> None:
    """List API keys (never the keys themselves)."""
    for key in _keys_call(lambda uow: uow.api_keys.list_all()):
        subs = "all" if key.subaccounts is None else ",".join(map(str, sorted(key.subaccounts)))
        state = "revoked" if key.revoked_at else "active"
        typer.echo(
            f"{key.id}  {key.key_prefix}…  {state:7}  {','.join(sorted(key.scopes)):16}  "
            f"subaccounts={subs}  {key.name}"
        )


@keys_app.command("revoke")
@config_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    from dydx_router.domain.errors import DomainError
    from dydx_router.service import admin
    from dydx_router.store.audit import Actor

    try:
        ident = uuid.UUID(key_id)
    except ValueError:
        _fail(f"not a key id: {key_id!r}")
    try:
        _keys_call(lambda uow: admin.revoke_api_key(uow, Actor.cli(), ident))
    except DomainError as exc:
        _fail(str(exc))
    typer.echo(f"revoked {ident}")


@app.command()
@config_errors
def audit(
    since: Annotated[
        str, typer.Option(help="'all', a duration back from now (15m, 2h, 7d) or an ISO time.")
    ] = "24h",
    grace: Annotated[
        float | None,
        typer.Option(help="Seconds within which a changed order is not judged yet [10]."),
    ] = None,
    show_undecided: Annotated[
        bool, typer.Option(help="Also list orders the chain cannot decide yet.")
    ] = False,
) -> None:
    """Print every order whose stored status disagrees with the chain; exit 1 if any does.

    Read only (the database connection refuses writes); exit 2 when it could not run.
    """
    from dydx_router import audit_cli

    try:
        raise typer.Exit(audit_cli.main(_settings(), since, grace, show_undecided))
    except (ConfigError, typer.Exit):
        raise
    except Exception as exc:  # a bad --since, or the database or the chain could not be read
        _fail(f"audit not completed: {exc or type(exc).__name__}")


# --- local development (make run / dev-up / dev-down) -------------------------------------------


def _devnet_args() -> list[str]:
    return shlex.split(os.environ.get("DEVNET_ARGS", ""))


@local_app.command("run")
def local_run() -> None:
    """Start the database and the devnet, migrate, and serve the API until interrupted."""
    from dydx_router import localdev
    from dydx_router.store import migrate

    # SIGTERM ends the command like Ctrl-C, so the finally block stops what it started.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    db = None
    devnet = None
    try:
        db = localdev.start_database()
        migrate.upgrade(db.url)
        mnemonic = localdev.demo_mnemonic()
        address = localdev.wallet_address(mnemonic)
        devnet = localdev.start_devnet({address: localdev.DEMO_FUNDS_USDC}, _devnet_args())
        os.environ.update(
            {
                "DATABASE_URL": db.url,
                "DYDX_ROUTER_MNEMONIC": mnemonic,
                "DYDX_ROUTER_NETWORK": os.environ.get("DYDX_ROUTER_NETWORK", "devnet"),
                "DYDX_ROUTER_NODE_ENDPOINTS": devnet.node_endpoints,
                "DYDX_ROUTER_INDEXER_URLS": devnet.indexer,
                "DYDX_ROUTER_INDEXER_WS_URLS": devnet.ws,
            }
        )
        settings = load_settings()
        api_key = (
            asyncio.run(localdev.ensure_demo_api_key(db.url))
            if localdev.may_mint_demo_key(db, settings.network.value)
            else None
        )

        def announce(url: str) -> None:
            print(
                f"Devnet: grpc={devnet.node_endpoints} rpc={','.join(devnet.rpcs)} "
                f"indexer={devnet.indexer} (log: {devnet.log_path})"
            )
            print(f"Wallet: {address}")
            print("Place a market order on the devnet:")
            print(
                f"  curl -s -X POST {url}/v1/orders -H 'Authorization: Bearer {api_key or 'KEY'}' "
                "-H 'Content-Type: application/json' "
                '-d \'{"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}\''
            )
            print(f"API URL: {url}")
            if api_key is None:
                print(
                    "API key: none minted (only on the devnet with the embedded database); "
                    "create one: dydx-router api-keys create --name bot --scopes read,trade",
                    flush=True,
                )
            else:
                print(f"API key: {api_key}", flush=True)

        _run(_serve(settings, announce))
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        _fail(f"configuration: {exc}")
    finally:
        if devnet is not None:
            devnet.stop()
        if db is not None and db.embedded is not None:
            db.embedded.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@local_app.command("migrate")
def local_migrate(
    direction: Annotated[str, typer.Argument(help="up or down")],
    revision: Annotated[str | None, typer.Argument()] = None,
) -> None:
    """Migrate DATABASE_URL, or the embedded database when it is unset."""
    from dydx_router import localdev
    from dydx_router.store import migrate

    if direction not in {"up", "down"}:
        _fail("direction must be up or down")
    db = localdev.start_database()
    try:
        if direction == "up":
            migrate.upgrade(db.url, revision or "head")
        else:
            migrate.downgrade(db.url, revision or "-1")
        migrate.current(db.url)
    finally:
        if db.embedded is not None:
            db.embedded.stop()


@local_app.command("up")
def local_up() -> None:
    """Start the embedded database (unless DATABASE_URL is set) and the devnet in the background."""
    from dydx_router import localdev
    from dydx_router.store import migrate

    if localdev.DevUpState.load() is not None:
        _fail("already up (run `make dev-down` first)", 1)
    state = localdev.DevUpState()
    db = localdev.start_database(keep_running=True)
    if db.embedded is not None:
        state.pg_data_dir = str(db.embedded.data_dir)
    state.env["DATABASE_URL"] = db.url
    state.save()
    migrate.upgrade(db.url)
    mnemonic = localdev.demo_mnemonic()
    devnet = localdev.start_devnet(
        {localdev.wallet_address(mnemonic): localdev.DEMO_FUNDS_USDC}, _devnet_args()
    )
    state.devnet_pid = devnet.process.pid
    state.env.update(
        {
            "DYDX_ROUTER_NODE_ENDPOINTS": devnet.node_endpoints,
            "DYDX_ROUTER_INDEXER_URLS": devnet.indexer,
            "DYDX_ROUTER_INDEXER_WS_URLS": devnet.ws,
        }
    )
    state.save()
    print("Started; export these to use them:")
    for name, value in state.env.items():
        print(f"export {name}={shlex.quote(value)}")
    if not os.environ.get("DYDX_ROUTER_MNEMONIC"):
        # The demo key itself is never printed; point at the file that holds it.
        path = localdev.local_dir() / "demo-mnemonic"
        print(f'export DYDX_ROUTER_MNEMONIC="$(cat {shlex.quote(str(path))})"')


@local_app.command("down")
def local_down() -> None:
    """Stop exactly what `local up` started."""
    from dydx_router import localdev

    state = localdev.DevUpState.load()
    if state is None:
        print("nothing to stop")
        return
    if state.devnet_pid is not None:
        localdev.stop_pid(state.devnet_pid)
        print(f"stopped devnet (pid {state.devnet_pid})")
    if state.pg_data_dir is not None:
        from pathlib import Path

        from dydx_router.store.embedded import EmbeddedPostgres

        if EmbeddedPostgres.stop_data_dir(Path(state.pg_data_dir)):
            print(f"stopped embedded PostgreSQL ({state.pg_data_dir})")
    localdev.DevUpState.path().unlink()


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
