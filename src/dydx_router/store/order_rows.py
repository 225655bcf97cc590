"""The ``orders`` table's rows: its columns, the insert of an order with its first history row,
and the mapping between a row and an `Order` (``store/orders.py`` runs the statements)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from dydx_router.domain.order import (
    ChainError,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

COLUMNS = (
    "id, api_key_id, client_order_id, idempotency_key, request_fingerprint, market, side, type, "
    "time_in_force, reduce_only, post_only, size, price, trigger_price, slippage_bps, quantums, "
    "subticks, trigger_subticks, client_id, order_flags, clob_pair_id, good_til_block, "
    "good_til_block_time, address, subaccount_number, indexer_order_id, status, filled_size, "
    "average_fill_price, tx_hash, signed_tx, error_codespace, error_code, error_log, "
    "placement_reason"
)
# The order and its first history row in one statement (one round trip, atomic on its own: the
# history row's foreign key is checked at the end of the statement, when the order row exists).
INSERT = (
    f"WITH o AS (INSERT INTO orders ({COLUMNS}) VALUES "
    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,"
    "$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35) RETURNING id, status, created_at, updated_at), "
    "h AS (INSERT INTO order_status_history (order_id, from_status, to_status, reason, "
    "chain_height) SELECT id, NULL, status, $36, $37 FROM o) "
    "SELECT created_at, updated_at FROM o"
)


def apply_fields(order: Order, fields: dict[str, Any]) -> None:
    """Mirror written columns on the in-memory order (the error columns form ``last_error``)."""
    for name, value in fields.items():
        if not name.startswith("error_"):
            setattr(order, name, value)
    if "error_code" in fields:
        order.last_error = ChainError(
            fields.get("error_codespace") or "", fields["error_code"], fields.get("error_log") or ""
        )


def order_params(order: Order) -> tuple[Any, ...]:
    err = order.last_error
    return (
        order.id,
        order.api_key_id,
        order.client_order_id,
        order.idempotency_key,
        order.request_fingerprint,
        order.market,
        order.side.value,
        order.type.value,
        order.time_in_force.value,
        order.reduce_only,
        order.post_only,
        order.size,
        order.price,
        order.trigger_price,
        order.slippage_bps,
        Decimal(order.quantums),
        Decimal(order.subticks),
        None if order.trigger_subticks is None else Decimal(order.trigger_subticks),
        order.client_id,
        order.order_flags,
        order.clob_pair_id,
        order.good_til_block,
        order.good_til_block_time,
        order.address,
        order.subaccount_number,
        order.indexer_order_id,
        order.status.value,
        order.filled_size,
        order.average_fill_price,
        order.tx_hash,
        order.signed_tx,
        err.codespace if err else None,
        err.code if err else None,
        err.log if err else None,
        order.placement_reason,
    )


def order_from_row(row: asyncpg.Record) -> Order:
    error = None
    if row["error_code"] is not None:
        error = ChainError(row["error_codespace"] or "", row["error_code"], row["error_log"] or "")
    trigger = row["trigger_subticks"]
    return Order(
        id=row["id"],
        api_key_id=row["api_key_id"],
        client_order_id=row["client_order_id"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        market=row["market"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        reduce_only=row["reduce_only"],
        post_only=row["post_only"],
        size=row["size"],
        price=row["price"],
        trigger_price=row["trigger_price"],
        slippage_bps=row["slippage_bps"],
        placement_reason=row.get("placement_reason"),
        cancel_reason=row.get("cancel_reason"),
        quantums=int(row["quantums"]),
        subticks=int(row["subticks"]),
        trigger_subticks=None if trigger is None else int(trigger),
        client_id=row["client_id"],
        order_flags=row["order_flags"],
        clob_pair_id=row["clob_pair_id"],
        good_til_block=row["good_til_block"],
        good_til_block_time=row["good_til_block_time"],
        address=row["address"],
        subaccount_number=row["subaccount_number"],
        indexer_order_id=row["indexer_order_id"],
        status=OrderStatus(row["status"]),
        filled_size=row["filled_size"],
        average_fill_price=row["average_fill_price"],
        tx_hash=row["tx_hash"],
        signed_tx=row["signed_tx"],
        last_error=error,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
