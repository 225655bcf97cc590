"""The ``dydx-router`` command line: the service's commands here (serve, migrate, api-keys,
audit), local development in ``cli/local.py``, operator checks in ``cli/doctor.py``; shared
helpers in ``cli/common.py``."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dydx_router.cli import agent_limits, doctor, local, trading_keys
from dydx_router.cli.common import (
    _fail,
    _run,
    _serve,
    _settings,
    config_errors,
    inherited_socket,
)
from dydx_router.config import ConfigError
from dydx_router.extras import MissingExtra, require
from dydx_router.mcp.stdio import mcp_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help="dYdX v4 order router.")
migrate_app = typer.Typer(no_args_is_help=True, help="Apply or roll back database migrations.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
app.add_typer(migrate_app, name="migrate")
app.add_typer(keys_app, name="api-keys")
app.add_typer(local.local_app, name="local")
app.add_typer(trading_keys.app, name="keys")
app.command("doctor")(doctor.doctor)
keys_app.command("limits")(agent_limits.limits)
app.command("mcp", help="Serve the MCP tools over stdio (DYDX_ROUTER_URL, DYDX_ROUTER_API_KEY).")(
    mcp_command
)


# `dydx-router devnet ...` runs the local chain and indexer (the same command as
# `python -m dydx_devnet`). The devnet is the [devnet] extra: imported only when this command
# runs, never by the service (dydx_router/extras.py); its own options are parsed by its app.
@app.command(
    "devnet",
    help="Run the local dYdX devnet: a node (gRPC) and an indexer (REST, websocket). "
    "`dydx-router devnet --help` lists its options.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def devnet(ctx: typer.Context) -> None:
    try:
        devnet_cli = require("dydx_devnet.cli", "devnet", "`dydx-router devnet`")
    except MissingExtra as exc:
        _fail(str(exc))
    devnet_cli.app(args=list(ctx.args), prog_name="dydx-router devnet")


@app.command()
@config_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (DYDX_ROUTER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DYDX_ROUTER_PORT).")] = None,
    fd: Annotated[
        int | None,
        typer.Option(
            "--fd",
            metavar="N",
            help="Serve on the TCP socket inherited as file descriptor N, bound by the parent "
            "process, instead of binding --host/--port (which are then not used). The parent "
            "holds the port until the API listens, so no other process can take it meanwhile "
            "(`local run --replicas` starts its replicas this way).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API."""
    if fd is not None and (host is not None or port is not None):
        _fail("--fd serves on an inherited socket: give it without --host and --port")
    settings = _settings(host=host, port=port)
    settings.require_database_url()
    _run(_serve(settings, sock=None if fd is None else inherited_socket(fd)))


@migrate_app.command("up")
@config_errors
def migrate_up(
    revision: Annotated[str, typer.Argument()] = "head",
    grant_app_role: Annotated[
        str | None,
        typer.Option(
            "--grant-app-role",
            metavar="ROLE",
            help="Then grant the service's own database ROLE as `migrate grant-app-role` does "
            "(compose's migrate job).",
        ),
    ] = None,
) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    from dydx_router.store import migrate

    url = _settings().require_database_url()
    migrate.upgrade(url, revision)
    if grant_app_role is not None:
        _grant_app_role(url, grant_app_role)


@migrate_app.command("down")
@config_errors
def migrate_down(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Downgrade the schema to REVISION (default: one step; 'base' removes everything)."""
    from dydx_router.store import migrate

    migrate.downgrade(_settings().require_database_url(), revision)


@migrate_app.command("grant-app-role")
@config_errors
def migrate_grant_app_role(role: Annotated[str, typer.Argument()]) -> None:
    """Give the service's own database ROLE the privileges it needs, the audit log read and
    append only (run as the tables' owner, after `migrate up`; docs/security.md)."""
    _grant_app_role(_settings().require_database_url(), role)


def _grant_app_role(database_url: str, role: str) -> None:
    from dydx_router.store.app_role import grant_app_role

    try:
        asyncio.run(grant_app_role(database_url, role))
    except LookupError as e:
        _fail(str(e))
    print(f"{role}: tables read/write, audit_log read and append only")


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
    from dydx_router.domain.access import Actor
    from dydx_router.domain.errors import DomainError
    from dydx_router.service import admin

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
    from dydx_router.domain.access import Actor
    from dydx_router.domain.errors import DomainError
    from dydx_router.service import admin

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


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
