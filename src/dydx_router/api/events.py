"""``GET /v1/events``: order, fill and trading-state events as Server-Sent Events.

Each event carries its ``id:`` from the event log (``store/events.py``); a client that
reconnects with ``Last-Event-ID`` (header, or ``?last_event_id=`` where it cannot set headers)
gets every event it may see after that id, in order, exactly once. A resume point older than
the retention window answers 410 ``event_id_expired``; one the log never issued 400
``unknown_event_id``. Comment lines every ``events_heartbeat_s`` keep proxies from closing an
idle stream. A stream whose client reads too slowly ends with an ``error`` event
(``slow_reader``) and is closed; the client resumes from its last id. docs/events.md.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from dydx_router.api.auth import ReadCaller
from dydx_router.api.deps import ServicesDep
from dydx_router.domain.events import StoredEvent
from dydx_router.service.events import EventsExpired, SlowReader

router = APIRouter(prefix="/v1", tags=["events"])


class EncodedEvents:
    """Events encoded for the wire, by id: an event every stream receives (a trading_state, an
    order seen by many orders:all keys) is encoded once, not once per stream. Bounded in bytes:
    the newest events, which the streams are sending now."""

    def __init__(self, max_bytes: int = 2 * 1024 * 1024) -> None:
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._bytes = 0
        self.max_bytes = max_bytes

    def __call__(self, e: StoredEvent) -> bytes:
        """The event's SSE block (``id:``, ``event:``, ``data:``), the same for every stream."""
        hit = self._blocks.get(e.id)
        if hit is None:
            hit = ServerSentEvent(e.data(), event=e.kind, id=str(e.id)).encode()
            self._blocks[e.id] = hit
            self._bytes += len(hit)
            while self._bytes > self.max_bytes:
                self._bytes -= len(self._blocks.popitem(last=False)[1])
        return hit


encoded = EncodedEvents()


def _error(code: str, message: str, last: int) -> ServerSentEvent:
    """The stream's last event. ``last_event_id``: the id of the last event this stream sent (or
    where it started), to reconnect with as ``Last-Event-ID``: nothing after it is lost."""
    body = {"code": code, "message": message, "last_event_id": last}
    return ServerSentEvent(orjson.dumps(body).decode(), event="error")


@router.get(
    "/events",
    summary="Order, fill and trading-state events (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The event stream"},
        400: {"description": "unknown_event_id: a Last-Event-ID this log never issued"},
        410: {"description": "event_id_expired: Last-Event-ID is older than the retention"},
    },
)
async def events(
    caller: ReadCaller,
    services: ServicesDep,
    market: Annotated[str | None, Query(max_length=64)] = None,
    order_id: uuid.UUID | None = None,
    last_event_id_header: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, description="Resume after this id")
    ] = None,
    last_event_id: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    hub = services.events
    assert hub is not None, "the composition root builds the event hub"
    settings = services.settings
    resume = last_event_id_header if last_event_id_header is not None else last_event_id
    if resume is not None:
        # EventsExpired (410) or UnknownEventId (400), from the catalogue (api/errors.py).
        await hub.check_resume(resume)

    # Subscribed before the first byte: once a client sees ``: connected``, nothing that
    # happens afterwards can be missed.
    sub = await hub.subscribe(caller, market=market, order_id=order_id)

    async def content() -> AsyncIterator[ServerSentEvent | bytes]:
        # At once: the response's headers leave with its first bytes, and a client should know
        # the stream is open before the first event or heartbeat.
        yield ServerSentEvent(comment="connected")
        # Where this stream stands: the client's resume point, else the hub's position when it
        # subscribed (nothing after it has been sent yet).
        last = resume if resume is not None else sub.start
        try:
            async for e in hub.stream(caller, last_event_id=resume, sub=sub):
                yield encoded(e)
                last = e.id
        except EventsExpired as e:
            # Pruned between the check above and the read: said, never skipped silently.
            yield _error("event_id_expired", str(e), last)
        except SlowReader as e:
            # The events are in the log: the client misses nothing by resuming after ``last``.
            yield _error("slow_reader", f"{e}; reconnect with Last-Event-ID: {last}", last)
        finally:
            hub.unsubscribe(sub)

    return EventSourceResponse(
        content(),
        ping=settings.events_heartbeat_s,
        send_timeout=settings.events_send_timeout_s,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        # Also when the body never started (the client left at once).
        background=BackgroundTask(hub.unsubscribe, sub),
    )
