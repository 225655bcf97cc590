"""``dydx-router audit``: its arguments, its run and its printed report.

The use case is ``service/audit.py``; the wiring (read-only database, chain queries) is
``bootstrap.open_audit``. Exit status: 0 every order agrees, 1 some disagree, 2 no verdict.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from dydx_router.bootstrap import open_audit
from dydx_router.config import Settings
from dydx_router.domain.audit import DEFAULT_RULES, AuditRules
from dydx_router.domain.market import format_decimal
from dydx_router.service.audit import AuditedOrder, AuditReport

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime | None:
    """``all`` (None), a duration back from ``now`` (``90s``, ``15m``, ``2h``, ``7d``) or an
    ISO-8601 time (UTC unless it names its offset)."""
    text = text.strip()
    if text == "all":
        return None
    match = _DURATION.fullmatch(text)
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected 'all', a duration such as 15m, 2h or 7d, "
            "or an ISO-8601 time such as 2026-12-01T09:00:00Z"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _table(title: str, rows: list[AuditedOrder]) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("order", no_wrap=True)
    table.add_column("market", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("stored", no_wrap=True)
    table.add_column("chain", no_wrap=True)
    table.add_column("why")
    for row in rows:
        o, f = row.order, row.finding
        created = o.created_at.strftime("%Y-%m-%d %H:%M:%S") if o.created_at else "?"
        kind = "short-term" if o.is_short_term else "stateful"
        stored = f"{o.status.value} {format_decimal(o.filled_size)}"
        table.add_row(str(o.id), o.market, kind, created, stored, f.chain, f.reason)
    return table


def print_report(
    report: AuditReport, since: datetime | None, console: Console, *, indeterminate: bool
) -> None:
    window = f"since {since.isoformat()}" if since else "all orders"
    h = report.heights
    where = f"node at {h.node_height}, indexer at {h.indexer_height}" if h else "no orders"
    if report.disagreements:
        console.print(_table("Orders whose stored status disagrees with the chain",
                             report.disagreements))  # fmt: skip
    if indeterminate and report.indeterminate:
        console.print(_table("Orders the chain cannot decide yet", report.indeterminate))
    console.print(
        f"{report.checked} orders checked ({window}; {where}): "
        f"{len(report.disagreements)} disagree, {len(report.indeterminate)} not decided yet."
    )


def main(settings: Settings, since_text: str, grace_s: float | None, show_undecided: bool) -> int:
    """Audit, print, and return the exit status (an error reading either side propagates)."""
    since = parse_since(since_text, datetime.now(UTC))
    rules = DEFAULT_RULES if grace_s is None else AuditRules(grace=timedelta(seconds=grace_s))

    async def audit() -> AuditReport:
        async with open_audit(settings, rules) as auditor:
            return await auditor.run(since)

    report = asyncio.run(audit())
    console = Console(width=None if sys.stdout.isatty() else 240)
    print_report(report, since, console, indeterminate=show_undecided)
    return 0 if report.agrees else 1
