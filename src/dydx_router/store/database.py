"""PostgreSQL connectivity: URL normalisation and the asyncpg pool owned by the app lifespan."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from dydx_router.service.ports import StoreFailures
from dydx_router.store.hosts import connect_any


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for asyncpg (``sslmode`` and ``host=/socket/dir`` are understood)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy's asyncpg dialect, which spells ``sslmode`` as ``ssl``."""
    parts = urlsplit(url)
    query = [("ssl" if k == "sslmode" else k, v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg", query=urlencode(query)))


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# Errors that mean "the server or the connection is gone", not "the statement is wrong":
# socket errors and timeouts (OSError, incl. TimeoutError), SQLSTATE class 08 (connection
# exception), 57P (operator intervention: admin shutdown, cannot connect now, crash shutdown) and
# 53300 (too many connections); and, with several hosts listed, none of those that answer takes
# writes (a failover under way: the primary is gone and no standby has been promoted yet).
_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)
#: Every class :func:`is_connection_error` may say yes to (for exception handler registration).
DB_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    *_CONNECTION_ERRORS,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unreachable (rather than a bug or a bad query)."""
    if isinstance(exc, _CONNECTION_ERRORS):
        return True
    # asyncpg reports a connection closed under it, or a pool shut down, as an InterfaceError;
    # a protocol left mid-operation by a connection the server terminated ("cannot switch to
    # state ...; another operation is in progress") as an InternalClientError.
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return "another operation" in str(exc)
    return isinstance(exc, asyncpg.InterfaceError) and "clos" in str(exc)


#: The API's 503 database_unavailable handler watches these (`api/errors.py`).
STORE_FAILURES = StoreFailures(DB_CONNECTION_ERRORS, is_connection_error)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    """Skip asyncpg's per-release reset query.

    The pool runs ``RESET ALL; UNLISTEN *; ...`` on every release, a round trip that costs 20-40%
    of throughput; our connections never change session state, and transactions are always ended
    by the unit of work before release.
    """

    def get_reset_query(self) -> str:
        return ""


async def connect(url: str, **kwargs: Any) -> Any:
    """One connection (``asyncpg.connect``'s keywords), to the writable host of a multi-host URL
    (``store/hosts.py``)."""
    return await connect_any(asyncpg_dsn(url), **kwargs)


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 16, **kwargs: Any) -> Any:
    """Open the pool; raises OSError/asyncpg errors if the server is unreachable. Each new
    connection goes to the host that takes writes (``store/hosts.py``), so after a failover the
    pool's replacements of its broken connections reach the new primary."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        connect=connect_any,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=_NoResetConnection,
        command_timeout=30,
        **kwargs,
    )
