"""The committed open orders of one (address, subaccount, market), read under a lock that
serialises the pre-trade check with the PENDING row's insert across every replica.

The risk gate (``service/risk.py``) checks an order first against its in-memory snapshot, which
sees other replicas' orders only at its next refresh. When a limit needs the exposure
(``max_open_orders``, ``max_position_notional``) the order's insert then runs in a transaction of
its own: it takes a transaction-scoped advisory lock on (address, subaccount, market), reads what
every replica has committed there (this aggregate), checks again, and inserts the row before the
lock is released by the commit. Two replicas' orders in one market of one subaccount are thus
checked one after the other, each seeing the other's row: together they never overshoot a limit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dydx_router.domain.order import FINAL_STATUSES, Order
from dydx_router.domain.risk import Exposure

_FINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(FINAL_STATUSES))
LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('exposure:' || $1 || ':' || $2 || ':' || $3, 0))"
)

# The same rows, and the same remaining size, as the exposure snapshot (store/risk.py
# open_orders), through the partial index of open orders.
OPEN = (
    "SELECT count(*) AS n, "
    "COALESCE(sum(size - filled_size) FILTER (WHERE side = 'BUY'), 0) AS buy, "
    "COALESCE(sum(size - filled_size) FILTER (WHERE side = 'SELL'), 0) AS sell "
    "FROM orders WHERE address = $1 AND subaccount_number = $2 AND market = $3 "
    f"AND status NOT IN ({_FINAL_SQL})"
)


async def locked_exposure(conn: Any, order: Order) -> Exposure:
    """Lock ``order``'s (address, subaccount, market) until the transaction ends and return its
    committed open orders (position 0: the caller knows the position)."""
    key = (order.address, str(order.subaccount_number), order.market)
    await conn.execute(LOCK, *key)
    row = await conn.fetchrow(OPEN, order.address, order.subaccount_number, order.market)
    return Exposure(Decimal(0), Decimal(row["buy"]), Decimal(row["sell"]), int(row["n"]))
