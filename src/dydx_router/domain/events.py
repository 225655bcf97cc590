"""An event of the push stream (GET /v1/events) as the event log stores it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
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
