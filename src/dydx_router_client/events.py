"""The router's event stream (``GET /v1/events``, Server-Sent Events) as typed events.

Wire format: each event has an ``id:`` (a monotonically increasing integer), an ``event:`` name
(``order``, ``fill``, ``trading_state``) and one JSON ``data:`` line; decimals are strings.
Comment lines (``: ...``) are heartbeats. A client that reconnects with ``Last-Event-ID`` gets
every event after that id, in order, exactly once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from dydx_router_client.models import OrderStatus, Side, TradingState


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(description="The stream position: resume after it with Last-Event-ID.")


class OrderEvent(_Event):
    event: Literal["order"] = "order"
    order_id: UUID
    client_order_id: str | None = None
    market: str
    side: Side
    status: OrderStatus
    filled_size: Decimal
    average_fill_price: Decimal | None = None
    subaccount_number: int
    reason: str | None = Field(default=None, description="Why the status changed.")
    placement_reason: str | None = Field(
        default=None, description="The reason the placing caller gave (an agent's why)."
    )
    cancel_reason: str | None = Field(
        default=None, description="The reason the canceling caller gave."
    )
    at: datetime


class FillEvent(_Event):
    event: Literal["fill"] = "fill"
    order_id: UUID
    market: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: str
    at: datetime


class TradingStateEvent(_Event):
    event: Literal["trading_state"] = "trading_state"
    state: TradingState
    reason: str | None = None
    at: datetime


Event = Annotated[OrderEvent | FillEvent | TradingStateEvent, Field(discriminator="event")]
_EVENT: TypeAdapter[OrderEvent | FillEvent | TradingStateEvent] = TypeAdapter(Event)
KNOWN_EVENTS = frozenset({"order", "fill", "trading_state"})


class SseMessage(BaseModel):
    """One dispatched Server-Sent Event (WHATWG HTML, "Interpreting an event stream")."""

    id: str | None = None
    event: str = "message"
    data: str = ""
    retry_ms: int | None = None


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[SseMessage]:
    """Dispatch a message at every blank line; comments (heartbeats) are skipped."""
    event_id: str | None = None
    name = ""
    data: list[str] = []
    retry: int | None = None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data or name:
                yield SseMessage(
                    id=event_id, event=name or "message", data="\n".join(data), retry_ms=retry
                )
            name, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            event_id = value
        elif field == "retry" and value.isdigit():
            retry = int(value)


def decode(message: SseMessage) -> OrderEvent | FillEvent | TradingStateEvent | None:
    """The typed event, or None for an event this client does not know (a newer server)."""
    if message.event not in KNOWN_EVENTS or message.id is None:
        return None
    payload = json.loads(message.data)
    payload["event"] = message.event
    payload["id"] = int(message.id)
    return _EVENT.validate_python(payload)


def resume_point(message: SseMessage, last: int | None) -> int | None:
    """Where to resume after the server ended the stream with an ``error`` event (a
    ``slow_reader``, ...): its ``last_event_id`` when this client has none of its own yet (a
    stream opened without an id ends before its first event), else ``last``."""
    if message.event != "error" or last is not None:
        return last
    try:
        found = json.loads(message.data).get("last_event_id")
    except (ValueError, AttributeError):
        return last
    return found if isinstance(found, int) else last
