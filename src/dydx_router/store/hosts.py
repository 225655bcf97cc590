"""Several PostgreSQL hosts in one URL, for a database that fails over.

``DATABASE_URL`` may list hosts the way libpq does:
``postgresql://user:pw@h1:5432,h2:5432/db?target_session_attrs=read-write``. A new connection
goes to the first host that accepts it *and* takes writes; after a failover that is the promoted
standby. libpq's semantics are kept where asyncpg's own multi-host connect differs:

- ``connect_timeout`` is per host in libpq; asyncpg spends one timeout on the whole host list,
  so a primary whose machine is gone (connects hang rather than fail) would use all of it and the
  standby would never be tried. Here each host gets its share of the timeout.
- The host that answered last is tried first next time (libpq has no memory): after a failover
  only the first new connection pays for the dead host.
- Without ``target_session_attrs`` a multi-host URL means ``read-write`` here (libpq's default,
  ``any``, would hand the router a standby that refuses every write with SQLSTATE 25006).

A URL with one host goes to ``asyncpg.connect`` unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import structlog

log = structlog.get_logger(__name__)

#: The least time one host is given, however many are listed (a TLS handshake on a slow link).
MIN_HOST_TIMEOUT_S = 1.0
DEFAULT_TIMEOUT_S = 60.0  # asyncpg.connect's own default

# The index of the host that answered last, per host list (URL). Process-wide on purpose: the
# pool, the LISTEN connection and one-off connections all learn where the primary is.
_preferred: dict[str, int] = {}
# What asyncpg raises for a host that answers but is not what target_session_attrs asks for.
_NOT_WRITABLE = asyncpg.exceptions.TargetServerAttributeNotMatched


def split_hosts(url: str) -> list[str]:
    """One single-host URL per host of a libpq multi-host URL (``[url]`` when it has one)."""
    parts = urlsplit(url)
    userinfo, at, hostspec = parts.netloc.rpartition("@")
    hosts = [h for h in hostspec.split(",") if h]
    if len(hosts) < 2:
        return [url]
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "target_session_attrs" for k, _ in query):
        query.append(("target_session_attrs", "read-write"))
    return [
        urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}", query=urlencode(query)))
        for host in hosts
    ]


def host_of(url: str) -> str:
    """``host:port`` of a single-host URL, for logs (never the credentials)."""
    return urlsplit(url).netloc.rpartition("@")[2]


# ``timeout`` as asyncpg.connect spells it: the pool calls this in its place with its keywords.
async def connect_any(dsn: str, *, timeout: float | None = None, **kwargs: Any) -> Any:  # noqa: ASYNC109
    """``asyncpg.connect`` over every host of ``dsn`` in turn (libpq's rules, above).

    Raises the last host's error when none will do: OSError or TimeoutError when none answers,
    ``TargetServerAttributeNotMatched`` when those that answer are standbys."""
    urls = split_hosts(dsn)
    if len(urls) == 1:
        return await asyncpg.connect(dsn, timeout=timeout or DEFAULT_TIMEOUT_S, **kwargs)
    per_host = max(MIN_HOST_TIMEOUT_S, (timeout or DEFAULT_TIMEOUT_S) / len(urls))
    first = _preferred.get(dsn, 0) % len(urls)
    order = [*range(first, len(urls)), *range(first)]
    last_error: BaseException | None = None
    for i in order:
        try:
            conn = await asyncpg.connect(urls[i], timeout=per_host, **kwargs)
        except (OSError, TimeoutError, asyncpg.PostgresError, _NOT_WRITABLE) as exc:
            last_error = exc
            continue
        if _preferred.get(dsn, 0) != i:
            # The writable host moved (a failover), or the first listed one is not it.
            log.warning("database_host_changed", host=host_of(urls[i]), hosts=len(urls))
        _preferred[dsn] = i
        return conn
    assert last_error is not None
    raise last_error
