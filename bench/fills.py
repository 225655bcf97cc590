"""How long the router takes to know what the chain filled, and whether it then knows it right.

After a load of market orders (``bench/load.py --kind market``) this compares every order the
router stored with the indexer's fills of the same subaccount:

- **fill → FILLED**: from the chain's fill (the fill's ``createdAt``, the time of the block that
  holds it; the last fill of the order) to the row in ``order_status_history`` that made the
  order FILLED in PostgreSQL. Reported for the orders filled during the load and for all.
- **drain**: from the end of the load until every order the load placed is final in PostgreSQL
  (polled every 0.25 s), and how many filled orders were not FILLED yet when the load ended.
- **truth**: once drained, every order's stored status and filled size against the indexer's
  fills: a FILLED order with a different size, a filled order stored as something else, an order
  stored FILLED that the indexer has no fill for. Any of these is a defect, not a slow path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from dydx_devnet.indexer.records import MAX_ROWS_PER_SUBACCOUNT
from dydx_router.store.database import asyncpg_dsn

if TYPE_CHECKING:
    from bench.loadgen import LoadResult

FINAL = ("FILLED", "CANCELED", "EXPIRED", "REJECTED")


@dataclass
class FillReport:
    orders: int = 0
    filled_on_chain: int = 0
    # Seconds from the end of the load until every order was final (None: not within the wait).
    drain_s: float | None = None
    # Orders the chain had filled (by block time) before the load ended but not FILLED then.
    behind_at_end: int = 0
    lag_during_ms: list[float] = field(default_factory=list)
    lag_all_ms: list[float] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    non_final: int = 0
    # Orders placed before the oldest fill the devnet's indexer still keeps (it keeps the last
    # MAX_ROWS_PER_SUBACCOUNT fills of a subaccount): not comparable, counted apart.
    past_retention: int = 0

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "filled_on_chain": self.filled_on_chain,
            "fill_to_filled_during_p50_ms": round(self.pct(self.lag_during_ms, 0.5), 1),
            "fill_to_filled_during_p99_ms": round(self.pct(self.lag_during_ms, 0.99), 1),
            "fill_to_filled_p50_ms": round(self.pct(self.lag_all_ms, 0.5), 1),
            "fill_to_filled_p99_ms": round(self.pct(self.lag_all_ms, 0.99), 1),
            "fill_to_filled_max_ms": round(max(self.lag_all_ms, default=float("nan")), 1),
            "behind_at_end": self.behind_at_end,
            "drain_s": None if self.drain_s is None else round(self.drain_s, 2),
            "non_final": self.non_final,
            "mismatches": len(self.mismatches),
            "past_retention": self.past_retention,
        }

    def line(self) -> str:
        s = self.summary()
        drain = "not within the wait" if s["drain_s"] is None else f"{s['drain_s']} s"
        return (
            f"  fill -> FILLED in PostgreSQL: during load p50 {s['fill_to_filled_during_p50_ms']}"
            f" ms p99 {s['fill_to_filled_during_p99_ms']} ms | all p50 "
            f"{s['fill_to_filled_p50_ms']} ms p99 {s['fill_to_filled_p99_ms']} ms max "
            f"{s['fill_to_filled_max_ms']} ms | {s['filled_on_chain']} filled on chain, "
            f"{s['behind_at_end']} not FILLED at the load's end, all final {drain} after it | "
            f"{s['non_final']} non-final, {s['mismatches']} mismatches with the chain"
            + (
                f" ({s['past_retention']} placed before the indexer's oldest kept fill)"
                if s["past_retention"]
                else ""
            )
        )


async def _indexer_fills(indexer: str, address: str, number: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=indexer, timeout=30) as client:
        page = 1
        while True:
            r = await client.get(
                "/v4/fills",
                params={
                    "address": address,
                    "subaccountNumber": number,
                    "limit": 1000,
                    "page": page,
                },
            )
            r.raise_for_status()
            fills = r.json()["fills"]
            out += fills
            if len(fills) < 1000:
                return out
            page += 1


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def measure(
    database_url: str,
    indexer: str,
    address: str,
    *,
    load_start: dt.datetime,
    load_end: dt.datetime,
    wait_s: float = 180.0,
    subaccount_number: int = 0,
) -> FillReport:
    """Wait until the orders placed since ``load_start`` are final (at most ``wait_s``), then
    compare them with the indexer (see the module docstring)."""
    report = FillReport()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        ended = time.monotonic()
        while True:
            non_final = await conn.fetchval(
                "SELECT count(*) FROM orders WHERE created_at >= $1 AND status <> ALL($2)",
                load_start,
                list(FINAL),
            )
            if non_final == 0:
                report.drain_s = time.monotonic() - ended
                break
            if time.monotonic() - ended > wait_s:
                report.non_final = int(non_final)
                break
            await asyncio.sleep(0.25)
        rows = await conn.fetch(
            """
            SELECT o.indexer_order_id, o.status, o.filled_size, o.size, o.average_fill_price,
                   o.created_at,
                   (SELECT max(h.at) FROM order_status_history h
                     WHERE h.order_id = o.id AND h.to_status = 'FILLED') AS filled_at
              FROM orders o
             WHERE o.created_at >= $1
            """,
            load_start,
        )
    finally:
        await conn.close()
    fills = await _indexer_fills(indexer, address, subaccount_number)
    by_order: dict[uuid.UUID, tuple[Decimal, Decimal, dt.datetime]] = {}
    for f in fills:
        oid = uuid.UUID(f["orderId"])
        size, value, at = by_order.get(
            oid, (Decimal(0), Decimal(0), dt.datetime.min.replace(tzinfo=dt.UTC))
        )
        qty = Decimal(f["size"])
        by_order[oid] = (
            size + qty,
            value + qty * Decimal(f["price"]),
            max(at, _parse_time(f["createdAt"])),
        )
    report.orders = len(rows)
    oldest_kept = None
    if len(fills) >= MAX_ROWS_PER_SUBACCOUNT:
        oldest_kept = min(_parse_time(f["createdAt"]) for f in fills)
    for row in rows:
        oid = row["indexer_order_id"]
        stored, filled_size = row["status"], Decimal(row["filled_size"])
        chain = by_order.get(oid)
        if chain is None:
            if oldest_kept is not None and row["created_at"] < oldest_kept:
                report.past_retention += 1
                continue
            if stored == "FILLED" or filled_size:
                report.mismatches.append(f"{oid}: stored {stored} {filled_size}, no fill")
            continue
        chain_size, chain_value, fill_at = chain
        if oldest_kept is not None and row["created_at"] < oldest_kept:
            report.past_retention += 1  # some of its fills may be past the indexer's retention
            continue
        fully = chain_size == Decimal(row["size"])
        avg = row["average_fill_price"]
        # Stored to a tenth of the tick: a relative difference past 1e-6 is a wrong price.
        if (
            avg is None
            or abs(Decimal(avg) - chain_value / chain_size) > chain_value / chain_size / 10**6
        ):
            report.mismatches.append(f"{oid}: stored price {avg}, chain {chain_value / chain_size}")
            continue
        if fully:
            report.filled_on_chain += 1
        if (stored == "FILLED") != fully or filled_size != chain_size:
            report.mismatches.append(
                f"{oid}: stored {stored} {filled_size}, chain filled {chain_size}"
            )
            continue
        if not fully or row["filled_at"] is None:
            continue
        lag = (row["filled_at"] - fill_at).total_seconds() * 1000
        report.lag_all_ms.append(lag)
        if fill_at <= load_end:
            report.lag_during_ms.append(lag)
            if row["filled_at"] > load_end:
                report.behind_at_end += 1
    return report


@dataclass
class FillTarget:
    """Where bench/fills.py looks after a market-order load (known when this script starts the
    stack, or given with --database-url/--indexer-url/--address)."""

    database_url: str
    indexer_url: str
    address: str
    router_log: Path | None = None


def stream_drops(log: Path | None) -> int:
    """The router's status stream disconnects logged so far (0 when the log is unknown)."""
    if log is None or not log.exists():
        return 0
    return log.read_bytes().count(b"indexer_stream_disconnected")


async def run_market_report(target: FillTarget, r: LoadResult, drops_before: int) -> dict[str, Any]:
    """After a market-order load: bench/fills.py's figures and the stream's disconnects."""
    assert r.started_at is not None and r.ended_at is not None
    report = await measure(
        target.database_url,
        target.indexer_url,
        target.address,
        load_start=r.started_at,
        load_end=r.ended_at,
    )
    print(report.line(), flush=True)
    for text in report.mismatches[:3]:
        print(f"  mismatch: {text}", flush=True)
    drops = stream_drops(target.router_log) - drops_before
    print(f"  status stream disconnects during the run: {drops}", flush=True)
    return report.summary() | {"stream_disconnects": drops}
