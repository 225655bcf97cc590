"""The SSE encoding of events, shared by every stream: the same bytes, bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime

from dydx_router.api.events import EncodedEvents
from dydx_router.domain.events import StoredEvent


def event(i: int, size: int) -> StoredEvent:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    return StoredEvent(i, "trading_state", None, None, None, None, at, {"reason": "x" * size})


def test_an_event_is_encoded_once_and_the_cache_is_bounded_in_bytes() -> None:
    encoded = EncodedEvents(max_bytes=10_000)
    first = encoded(event(1, 100))
    assert first.startswith(b"id: 1\r\nevent: trading_state\r\ndata: {")
    assert encoded(event(1, 100)) is first  # the same bytes for the next stream
    for i in range(2, 50):
        encoded(event(i, 1_000))
    assert encoded._bytes <= 10_000 and len(encoded._blocks) < 10
    encoded(event(99, 50_000))  # larger than the bound: not kept
    assert encoded._bytes == 0
