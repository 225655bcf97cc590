"""An event of the push stream (GET /v1/events) as the event log stores it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    kind: str
    order_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    subaccount_number: int | None
    market: str | None
    at: datetime
    payload: dict[str, Any]

    def data(self) -> str:
        """The SSE ``data:`` line: the payload with ``at`` (ISO 8601, UTC)."""
        return json.dumps({**self.payload, "at": self.at.isoformat()}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Fill:
    """A fill of one of our orders, as the indexer reported it (fee: what the subaccount
    paid, negative for a rebate)."""

    id: uuid.UUID
    order_id: uuid.UUID
    market: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal | None
    liquidity: str
    type: str
    created_at: datetime
    created_at_height: int
    subaccount_number: int
