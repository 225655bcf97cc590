"""Idempotency-Key semantics (draft-ietf-httpapi-idempotency-key-header §2.6, §2.7).

A placement (or a close) carrying a key is looked up by (API key, Idempotency-Key) before anything
is planned. The stored order answers the request:

- same fingerprint, outcome recorded: a replay of that order (200, ``Idempotent-Replayed``);
- same fingerprint, still PENDING (its placement has not recorded the chain's answer, in this
  process or another replica): ``IdempotencyInFlight``, 409 with Retry-After, never a wait and
  never a second order;
- another fingerprint: ``IdempotencyConflict``, 422.

Keys are kept with their order row, for as long as the row is kept: a key is never reusable.
"""

from __future__ import annotations

import uuid

from dydx_router.domain.errors import IdempotencyConflict, IdempotencyInFlight
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.service.ports import UnitOfWorkFactory

# Seconds a caller is told to wait before retrying a request whose first copy is in flight: a
# placement records its outcome within one CheckTx round trip, about a block.
IN_FLIGHT_RETRY_AFTER_S = 1


async def find_replay(
    uow_factory: UnitOfWorkFactory, api_key_id: uuid.UUID | None, key: str, fingerprint: str
) -> Order | None:
    """The order placed earlier with ``key`` (None if there is none), or the error that answers
    this request instead of a replay."""
    async with uow_factory() as uow:
        existing = await uow.orders.find_by_idempotency_key(api_key_id, key)
        if existing is None:
            return None
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request",
                order_id=str(existing.id),
            )
        if existing.status is OrderStatus.PENDING:
            raise IdempotencyInFlight(
                "the first request with this Idempotency-Key is still being processed; "
                "retry it after Retry-After",
                order_id=str(existing.id),
                retry_after_s=IN_FLIGHT_RETRY_AFTER_S,
            )
        existing.history = await uow.orders.history(existing.id)
        return existing
