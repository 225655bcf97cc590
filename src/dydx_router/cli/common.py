"""Helpers every command module shares: failing with one line, settings, running the API."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, NoReturn, TypeVar

import typer

from dydx_router.config import ConfigError, Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> NoReturn:
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


def inherited_socket(fd: int) -> socket.socket:
    """The listening TCP socket a parent bound and passed as file descriptor ``fd``
    (``serve --fd``). The parent holds the port from bind to exec, so no other process can take
    it between the parent choosing the port and the service listening on it, and a readiness
    probe of that port reaches this service (``dydx_router/localcluster.py``)."""
    try:
        sock = socket.socket(fileno=fd)  # family and type read from the descriptor
    except OSError as exc:
        _fail(f"--fd {fd}: not an open socket ({exc.strerror or exc})")
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.detach()  # not ours to close
        _fail(f"--fd {fd}: not a TCP socket")
    if sock.getsockname()[1] == 0:
        sock.detach()
        _fail(f"--fd {fd}: the socket is not bound to a port")
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(
    settings: Settings,
    on_started: Callable[[str], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve the API on ``settings.host``/``port``, or on ``sock`` (``inherited_socket``: then
    the host and port settings are not used)."""
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
    # Not uvicorn.Config(fd=...): uvicorn (0.55, server.py) wraps that descriptor as AF_UNIX;
    # ``sockets`` takes the socket as it is (and uvicorn listens on it if the parent did not).
    task = asyncio.create_task(server.serve(sockets=None if sock is None else [sock]))
    # uvicorn exposes no start-up event; poll its flag briefly.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if server.started:
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        if sock is None:
            host = settings.host
        else:
            # uvicorn logs where it listens only for what it bound itself: the same line here,
            # which is what log readers wait for (tests/fixtures/router.py).
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on %s (inherited socket, fd %d)", _url(host, port), sock.fileno()
            )
        if on_started is not None:
            on_started(_url(host, port))
    await task
    if not server.started:
        _fail("the API did not start (see the log above)", 1)
