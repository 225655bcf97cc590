"""Order routes: place, read, list, cancel."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel

from dydx_router.api.auth import ReadCaller, TradeCaller
from dydx_router.api.deps import Orders
from dydx_router.api.fields import MAX_REASON, REASON_PATTERN, Ticker
from dydx_router.api.schemas import (
    CancelOrdersBody,
    CancelResult,
    DryRunOut,
    OrderOut,
    OrderPage,
    PlaceOrderBody,
    UnrecordedOutcomeOut,
)
from dydx_router.domain.access import Actor, ApiKey
from dydx_router.domain.errors import (
    InvalidCancelSelector,
    InvalidCursor,
    InvalidStatusFilter,
    OrderNotFound,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.service.orders import CancelAudit, PlaceOrder

router = APIRouter(prefix="/v1/orders", tags=["orders"])
IDEMPOTENCY_KEY_MAX = 128
_NO_NUL = r"^[^\x00]*$"  # as schemas.StoredText: PostgreSQL text holds no U+0000
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Same key + same body returns the same order (200, Idempotent-Replayed); "
        "a different body is a 422; while the first request with the key is still in flight, "
        "409 idempotency_in_flight with Retry-After.",
    ),
]


# Set on an idempotent replay (the order placed earlier with the same Idempotency-Key): the
# answer is that of the first request, not a new order.
REPLAYED_HEADER = "Idempotent-Replayed"


def _json(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """The model serialised once. Returned as a model, FastAPI would validate it again against
    ``response_model`` before serialising it: a second pass over every field of every order on
    the hottest routes. The routes keep ``response_model`` for the OpenAPI schema."""
    return Response(
        model.model_dump_json(by_alias=True),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _encode_cursor(order: OrderOut) -> str:
    raw = json.dumps([order.created_at.isoformat() if order.created_at else "", str(order.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> Cursor:
    try:
        padded = text + "=" * (-len(text) % 4)
        created, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return Cursor(datetime.fromisoformat(created), uuid.UUID(ident))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc


@router.post(
    "",
    status_code=201,
    response_model=OrderOut | DryRunOut,
    responses={
        200: {
            "description": "Idempotent replay (header `Idempotent-Replayed: true`): the order "
            "placed earlier with this key"
        },
        201: {"description": "Placed: CheckTx accepted (SUBMITTED) or refused (REJECTED)"},
        # ?dry_run=true answers 200 with DryRunOut: the quantized order, its OrderId and the
        # hash of what would be signed (never a signature).
        202: {
            "description": "Persisted, but the broadcast outcome is unknown (UNKNOWN), or "
            "known but not yet stored (`unrecorded_outcome`)"
        },
        409: {
            "description": "The first request with this Idempotency-Key is still in flight "
            "(`idempotency_in_flight`, Retry-After), or trading is halted"
        },
        422: {"description": "Idempotency-Key reused with a different body, or a malformed one"},
    },
    summary="Place an order",
)
async def place_order(
    body: PlaceOrderBody,
    request: Request,
    caller: TradeCaller,
    service: Orders,
    idempotency_key: IdempotencyKey = None,
    dry_run: Annotated[
        bool,
        Query(
            description="Preview only: the quantized order, its OrderId and the hash of the "
            "bytes a placement would sign; nothing is signed, stored or sent."
        ),
    ] = False,
) -> Response:
    # Also called by api/fastpath.py, which binds these arguments itself (``service`` through
    # api/deps.py's getter, as FastAPI would): keep the signature.
    sub = body.subaccount if body.subaccount is not None else service.config.default_subaccount
    cmd = PlaceOrder(
        request=body.to_request(),
        subaccount_number=sub,
        client_order_id=body.client_order_id,
        idempotency_key=idempotency_key,
        reason=body.reason,
    )
    if dry_run:
        order, preview = await service.dry_run(cmd, caller)
        return _json(DryRunOut.of(order, preview.sign_doc_sha256), 200)
    result = await service.place(cmd, caller)
    status_code = 201
    if result.replayed:
        status_code = 200
    elif result.order.status is OrderStatus.UNKNOWN or result.unrecorded is not None:
        status_code = 202
    out = OrderOut.of(result.order)
    if result.unrecorded is not None:
        out.unrecorded_outcome = UnrecordedOutcomeOut(
            status=result.unrecorded,
            reason="the chain answered but the database could not store the answer; "
            "the reconciler records it",
        )
    return _json(out, status_code, {REPLAYED_HEADER: "true"} if result.replayed else None)


def parse_statuses(text: str | None) -> tuple[OrderStatus, ...] | None:
    """``OPEN,UNTRIGGERED`` as statuses; an unknown one is a 400 naming the valid ones."""
    if text is None:
        return None
    try:
        return tuple(dict.fromkeys(OrderStatus(part.strip()) for part in text.split(",")))
    except ValueError as exc:
        raise InvalidStatusFilter(
            f"status must be one or more of {', '.join(s.value for s in OrderStatus)}, "
            "comma-separated",
        ) from exc


@router.get(
    "/by-client-id/{client_order_id}",
    response_model=OrderOut,
    summary="One order by the client_order_id it was placed with",
    description="The newest order this key may see with that `client_order_id` "
    "(also `GET /v1/orders?client_order_id=` for every one).",
)
async def get_order_by_client_id(
    client_order_id: Annotated[str, Path(min_length=1, max_length=64, pattern=_NO_NUL)],
    caller: ReadCaller,
    service: Orders,
) -> Response:
    found = await service.search(
        OrderFilter(client_order_id=client_order_id), caller, limit=1, cursor=None
    )
    if not found:
        raise OrderNotFound(
            f"no order with client_order_id {client_order_id!r}", client_order_id=client_order_id
        )
    return _json(OrderOut.of(await service.get(found[0].id, caller)))


@router.get("/{order_id}", response_model=OrderOut, summary="One order with its status history")
async def get_order(order_id: uuid.UUID, caller: ReadCaller, service: Orders) -> Response:
    return _json(OrderOut.of(await service.get(order_id, caller)))


@router.get("", response_model=OrderPage, summary="Order history, newest first")
async def list_orders(
    caller: ReadCaller,
    service: Orders,
    market: Ticker | None = None,
    status: Annotated[
        str | None,
        Query(
            max_length=200,
            description="One status or several, comma-separated: `OPEN,UNTRIGGERED`",
        ),
    ] = None,
    side: Side | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    client_order_id: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=_NO_NUL)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    orders = await service.search(
        OrderFilter(
            market=market,
            statuses=parse_statuses(status),
            side=side,
            since=since,
            until=until,
            client_order_id=client_order_id,
        ),
        caller,
        limit=limit,
        cursor=_decode_cursor(cursor) if cursor else None,
    )
    out = [OrderOut.of(o, with_history=False) for o in orders]
    next_cursor = _encode_cursor(out[-1]) if len(out) == limit else None
    return _json(OrderPage(orders=out, next_cursor=next_cursor))


def _cancel_reason(request: Request, reason: str | None) -> CancelAudit | None:
    """Stores the caller's reason with the orders and in the audit log, in the transaction
    that marks them CANCEL_REQUESTED (store/audit.py)."""
    if reason is None:
        return None
    key: ApiKey = request.state.api_key
    actor = Actor(key.id, key.name)

    async def audit(uow: Any, orders: Sequence[Order]) -> None:
        await uow.audit.order_cancel_reason(actor, [o.id for o in orders], reason)
        for o in orders:
            o.cancel_reason = reason

    return audit


@router.delete("/{order_id}", response_model=OrderOut, summary="Cancel an order")
async def cancel_order(
    order_id: uuid.UUID,
    request: Request,
    caller: TradeCaller,
    service: Orders,
    reason: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_REASON, pattern=REASON_PATTERN, description="Why"),
    ] = None,
) -> OrderOut:
    reason = reason.strip() if reason is not None else None
    audit = _cancel_reason(request, reason or None)
    return OrderOut.of(await service.cancel(order_id, caller, audit=audit))


@router.post(
    "/cancel",
    response_model=CancelResult,
    summary="Cancel many orders",
    description="A cancel was sent for every order of `orders` not listed in `failed`; "
    "`failed` names the orders the chain refused the cancel for (back to their earlier status) "
    "or whose cancel's outcome is unknown (still CANCEL_REQUESTED).",
)
async def cancel_orders(
    body: CancelOrdersBody, request: Request, caller: TradeCaller, service: Orders
) -> CancelResult:
    chosen = sum([bool(body.ids), body.market is not None, body.all])
    if chosen != 1:
        raise InvalidCancelSelector("give exactly one of ids, market, or all: true")
    report = await service.cancel_many(
        caller, order_ids=body.ids, market=body.market, audit=_cancel_reason(request, body.reason)
    )
    return CancelResult.of(report)
