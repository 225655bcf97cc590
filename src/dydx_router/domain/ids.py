"""Identifiers the indexer computes, computed here the same way (v4-chain
``indexer/packages/postgres/src/stores/order-table.ts``, ``subaccount-table.ts``).

Every indexer id is a UUIDv5 in one namespace (indexer/packages/postgres/src/helpers/uuid.ts).
"""

from __future__ import annotations

import uuid

INDEXER_UUID_NAMESPACE = uuid.UUID("0f9da948-a6fb-4c45-9edc-4685c3f3317d")


def subaccount_uuid(address: str, subaccount_number: int) -> uuid.UUID:
    """``SubaccountTable.uuid`` (indexer/packages/postgres/src/stores/subaccount-table.ts)."""
    return uuid.uuid5(INDEXER_UUID_NAMESPACE, f"{address}-{subaccount_number}")


def order_uuid(
    address: str, subaccount_number: int, client_id: int, clob_pair_id: int, order_flags: int
) -> uuid.UUID:
    """``OrderTable.uuid`` (indexer/packages/postgres/src/stores/order-table.ts)."""
    sub = subaccount_uuid(address, subaccount_number)
    return uuid.uuid5(INDEXER_UUID_NAMESPACE, f"{sub}-{client_id}-{clob_pair_id}-{order_flags}")
