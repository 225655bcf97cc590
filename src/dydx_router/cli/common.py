"""Helpers every command module shares: failing with one line, settings, running the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import typer

from dydx_router.config import ConfigError, Settings, load_settings

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


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the service on uvloop: its C transports cost a fraction of asyncio's per socket write
    (a quarter of the router's CPU under load was in asyncio's ``transport.write``)."""
    import uvloop

    uvloop.run(main)


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy settings: X-Forwarded-For/-Proto are believed only from the listed
    proxies (none by default: uvicorn would otherwise trust 127.0.0.1). The client address they
    give is what the auth-failure limit counts (api/auth.py)."""
    return {
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips) or "",
    }


async def _serve(settings: Settings, on_started: Callable[[str], None] | None = None) -> None:
    import uvicorn

    from dydx_router.asgi import create_app
    from dydx_router.observability.logs import configure_logging

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
        timeout_keep_alive=settings.keep_alive_s,
        **proxy_options(settings),
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
