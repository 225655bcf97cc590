"""``dydx-router local ...``: the local development environment (make run / dev-up / dev-down)."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import time
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer

from dydx_router.cli.common import _fail, _run, _serve
from dydx_router.cli.progress import Progress
from dydx_router.config import ConfigError, load_settings
from dydx_router.extras import MissingExtra, check

local_app = typer.Typer(no_args_is_help=True, help="Local development environment (make targets).")


F = TypeVar("F", bound=Callable[..., None])


def _extras_errors(func: F) -> F:
    """A missing optional part (the devnet, the embedded database) ends the command with one
    line naming the extra to install."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except MissingExtra as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _devnet_args() -> list[str]:
    return shlex.split(os.environ.get("DEVNET_ARGS", ""))


@local_app.command("run")
def local_run(
    replicas: Annotated[
        int,
        typer.Option(
            min=1, max=16, help="Routers to run; more than 1 puts HAProxy in front of them."
        ),
    ] = 1,
) -> None:
    """Start the database and the devnet, migrate, and serve the API until interrupted."""
    from dydx_router import localcluster, localdev
    from dydx_router.store import migrate

    if replicas > 1:
        try:
            localcluster.find_haproxy()  # before anything starts
        except localcluster.LoadBalancerMissing as exc:
            _fail(str(exc))

    # SIGTERM ends the command like Ctrl-C, so the finally block stops what it started.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    progress = Progress()
    db = None
    launch = None
    try:
        mnemonic = localdev.demo_mnemonic()
        address = localdev.wallet_address(mnemonic)
        # The devnet boots in its own process while the database starts and is migrated.
        devnet_started = time.monotonic()
        launch = localdev.launch_devnet({address: localdev.DEMO_FUNDS_USDC}, _devnet_args())
        progress.say("devnet", f"starting in the background (log: {launch.log_path})")
        external = bool(os.environ.get("DATABASE_URL"))
        with progress.step(
            "database",
            "DATABASE_URL" if external else f"embedded PostgreSQL in {localdev.local_dir()}",
        ):
            db = localdev.start_database()
        with progress.step("migrations", "alembic upgrade head"):
            migrate.upgrade(db.url)
        devnet = localdev.wait_ready(launch)
        progress.done("devnet", time.monotonic() - devnet_started, " (since its start)")
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
        progress.say("API", "starting ...")
        api_started = time.monotonic()

        def announce(url: str) -> None:
            progress.done("API", time.monotonic() - api_started)
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
            print(progress.summary())
            print(f"API URL: {url}")
            if api_key is None:
                print(
                    "API key: none minted (only on the devnet with the embedded database); "
                    "create one: dydx-router api-keys create --name bot --scopes read,trade",
                    flush=True,
                )
            else:
                print(f"API key: {api_key}", flush=True)

        if replicas == 1:
            _run(_serve(settings, announce))
        else:
            cluster = localcluster.LocalCluster(
                replicas, settings.host, settings.port, localdev.local_dir()
            )
            try:
                try:
                    # The settings took the key out of the environment (custody.py); the
                    # replicas read it as this process did.
                    cluster.start({**os.environ, "DYDX_ROUTER_MNEMONIC": mnemonic})
                except RuntimeError as exc:
                    _fail(str(exc), 1)
                for child in cluster.children:
                    print(f"{child.name}: pid {child.process.pid}, log {child.log_path}")
                announce(cluster.url)
                gone = cluster.wait()
                _fail(f"{gone.name} exited with {gone.process.returncode}; see {gone.log_path}", 1)
            finally:
                cluster.stop()
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        _fail(f"configuration: {exc}")
    except MissingExtra as exc:
        _fail(str(exc))
    finally:
        if launch is not None:
            launch.stop()
        if db is not None and db.embedded is not None:
            db.embedded.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@local_app.command("migrate")
@_extras_errors
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
@_extras_errors
def local_up() -> None:
    """Start the embedded database (unless DATABASE_URL is set) and the devnet in the background."""
    from dydx_router import localdev
    from dydx_router.store import migrate

    if localdev.DevUpState.load() is not None:
        _fail("already up (run `make dev-down` first)", 1)
    # Before anything starts: a missing devnet must not leave a database running.
    check("dydx_devnet", "devnet", "the local devnet")
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
