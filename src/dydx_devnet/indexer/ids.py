"""The indexer's computable ids (UUIDv5), exactly as the real indexer derives them.

Sources (dydxprotocol/v4-chain): `indexer/packages/postgres/src/helpers/uuid.ts` (namespace),
`src/stores/subaccount-table.ts` (`uuid(address, subaccountNumber)`),
`src/stores/order-table.ts` (`uuid(subaccountId, clientId, clobPairId, orderFlags)`),
`src/stores/fill-table.ts` and `perpetual-position-table.ts` (event-based ids).
"""

from __future__ import annotations

import uuid
from functools import lru_cache

# `indexer/packages/postgres/src/helpers/uuid.ts`: every indexer table derives its ids from
# this namespace.
INDEXER_NAMESPACE = uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d")


def _uuid(name: str) -> str:
    return str(uuid.uuid5(INDEXER_NAMESPACE, name))


# Ids of subaccounts and orders are derived again for every event that names them (about twenty
# times per order); they are pure, so cache them (bounded) instead of re-hashing.
@lru_cache(maxsize=1024)
def subaccount_uuid(address: str, subaccount_number: int) -> str:
    return _uuid(f"{address}-{subaccount_number}")


@lru_cache(maxsize=65536)
@lru_cache(maxsize=65536)
def order_uuid(
    address: str, subaccount_number: int, client_id: int, clob_pair_id: int, order_flags: int
) -> str:
    sub = subaccount_uuid(address, subaccount_number)
    return _uuid(f"{sub}-{client_id}-{clob_pair_id}-{order_flags}")


def event_id(block_height: int, transaction_index: int, event_index: int) -> bytes:
    """Ender's 96-bit event id: height, transaction index and event index as big-endian 32-bit
    integers (`indexer/services/ender/src/scripts/helpers/dydx_event_id_from_parts.sql`)."""
    return (
        block_height.to_bytes(4, "big")
        + transaction_index.to_bytes(4, "big")
        + event_index.to_bytes(4, "big")
    )


def fill_uuid(event: bytes, liquidity: str) -> str:
    # `fill-table.ts`: uuid(`${eventId.hex}-${liquidity}`); the maker and the taker side of one
    # match share the event id and differ by liquidity.
    return _uuid(f"{event.hex()}-{liquidity}")


def perpetual_position_uuid(subaccount_id: str, open_event: bytes) -> str:
    # `perpetual-position-table.ts`: uuid(`${subaccountId}-${openEventId.hex}`).
    return _uuid(f"{subaccount_id}-{open_event.hex()}")
