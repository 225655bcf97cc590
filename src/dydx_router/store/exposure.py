"""The committed open orders of one (address, subaccount, market), read under a lock that
serialises the pre-trade check with the PENDING row's insert across every replica.

The risk gate (``service/risk.py``) checks an order first against its in-memory snapshot, which
sees other replicas' orders only at its next refresh. When a limit needs the exposure
(``max_open_orders``, ``max_position_notional``) the order's insert then runs in a transaction of
its own: it takes a transaction-scoped advisory lock on (address, subaccount, market), reads what
every replica has committed there (this aggregate), checks again, and inserts the row before the
lock is released by the commit. Two replicas' orders in one market of one subaccount are thus
checked one after the other, each seeing the other's row: together they never overshoot a limit.
A key's agent limits (service/agent_limits.py) are checked again the same way, under a lock per
key.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from dydx_router.domain.agent_limits import AgentUsage
from dydx_router.domain.order import FINAL_STATUSES, Order
from dydx_router.domain.risk import Exposure

_FINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(FINAL_STATUSES))
LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('exposure:' || $1 || ':' || $2 || ':' || $3, 0))"
)
# A key's usage: the notional it placed since a day's start (REJECTED excluded) and its
# non-final orders (store/agent_limits.py reads it for the agent limits' book too).
USAGE = f"""
SELECT coalesce(sum(size * coalesce(price, trigger_price, 0))
                FILTER (WHERE created_at >= $2 AND status <> 'REJECTED'), 0) AS daily,
       count(*) FILTER (WHERE status NOT IN ({_FINAL_SQL})) AS open
FROM orders WHERE api_key_id = $1 AND (created_at >= $2 OR status NOT IN ({_FINAL_SQL}))
"""
# A key's agent limits (max_daily_notional, max_open_orders), taken after the exposure's lock
# when an insert needs both: one order of locks, no deadlock.
AGENT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('agent_usage:' || $1, 0))"

# The same rows, and the same remaining size, as the exposure snapshot (store/risk.py
# open_orders), through the partial index of open orders.
OPEN = (
    "SELECT count(*) AS n, "
    "COALESCE(sum(size - filled_size) FILTER (WHERE side = 'BUY'), 0) AS buy, "
    "COALESCE(sum(size - filled_size) FILTER (WHERE side = 'SELL'), 0) AS sell "
    "FROM orders WHERE address = $1 AND subaccount_number = $2 AND market = $3 "
    f"AND status NOT IN ({_FINAL_SQL})"
)


async def locked_agent_usage(conn: Any, key: uuid.UUID, day: datetime) -> AgentUsage:
    """Lock the key's usage until the transaction ends and return what every replica has
    committed (the same read as the agent limits' book, store/agent_limits.py)."""
    await conn.execute(AGENT_LOCK, str(key))
    row = await conn.fetchrow(USAGE, key, day)
    return AgentUsage(Decimal(row["daily"]), int(row["open"]))


async def locked_exposure(conn: Any, order: Order) -> Exposure:
    """Lock ``order``'s (address, subaccount, market) until the transaction ends and return its
    committed open orders (position 0: the caller knows the position)."""
    key = (order.address, str(order.subaccount_number), order.market)
    await conn.execute(LOCK, *key)
    row = await conn.fetchrow(OPEN, order.address, order.subaccount_number, order.market)
    return Exposure(Decimal(0), Decimal(row["buy"]), Decimal(row["sell"]), int(row["n"]))
