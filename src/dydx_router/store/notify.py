"""Change notifications between replicas: ``pg_notify`` on write, one LISTEN connection per process.

Admin writes (risk limits, trading state, API keys, agent limits) notify in the same
transaction, so PostgreSQL delivers the notification at commit and every replica reloads within
milliseconds. Notifications
are lost while a listener is disconnected, so readers also poll (``service/risk.py``).

After a database failover the listener connects to the new primary (``store/hosts.py``) and
subscribes again; every subscriber reloads then, for what changed while it was away. A primary
whose machine vanished closes nothing, so the listener also pings its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from dydx_router.store.database import connect

log = structlog.get_logger(__name__)

CHANNEL = "dydx_router_controls"
TOPIC_RISK = "risk_limits"
TOPIC_TRADING_STATE = "trading_state"
TOPIC_API_KEYS = "api_keys"
TOPIC_AGENT_LIMITS = "agent_limits"  # per-key agent limits (service/agent_limits.py)
# Sent by the event triggers (migration 0005): wakes the event hubs (service/events.py).
TOPIC_EVENTS = "events"


async def notify(conn: asyncpg.Connection, topic: str) -> None:
    """Queue a notification; delivered when the surrounding transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, topic)


# Why the listener reconnects: the server or the connection went away, or (InternalClientError)
# no listed host takes writes yet, a failover under way.
_LOST = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def _setter(event: asyncio.Event) -> Callable[[Any], None]:
    return lambda _conn: event.set()


class Listener:
    """Calls the subscribers of a topic on every notification; reconnects with a back-off."""

    def __init__(
        self,
        database_url: str,
        *,
        reconnect_s: float = 1.0,
        ping_s: float = 5.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = database_url
        self._reconnect_s = reconnect_s
        self._ping_s = ping_s
        self._timeout_s = timeout_s
        self._subscribers: dict[str, list[Callable[[], None]]] = {}
        self.connected = asyncio.Event()

    def subscribe(self, topic: str, callback: Callable[[], None]) -> None:
        self._subscribers.setdefault(topic, []).append(callback)

    def _dispatch(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for callback in self._subscribers.get(payload, ()):
            callback()

    async def run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._url, timeout=self._timeout_s)
                await conn.add_listener(CHANNEL, self._dispatch)
                self.connected.set()
                # Whatever changed while we were not listening: every subscriber reloads.
                for callbacks in self._subscribers.values():
                    for callback in callbacks:
                        callback()
                closed = asyncio.Event()
                conn.add_termination_listener(_setter(closed))
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._ping_s):
                            await closed.wait()
                    if not closed.is_set():
                        await conn.fetchval("SELECT 1", timeout=self._timeout_s)
                log.warning("controls_listener_disconnected")
            except _LOST as exc:
                log.warning("controls_listener_failed", error=type(exc).__name__)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()  # a dead server would make a polite close wait
            await asyncio.sleep(self._reconnect_s)
