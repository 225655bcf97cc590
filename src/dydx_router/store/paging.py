"""Filtered listings, newest first and keyset-paginated on (created_at, id): the orders and the
fills listings (``store/orders.py``, ``store/events.py``) build their SQL with `Listing`. Values
are always bind parameters; only the constant column names and conditions are text."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class Listing:
    def __init__(self) -> None:
        self.where: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        """A bind parameter for ``value`` (``$n``)."""
        self.args.append(value)
        return f"${len(self.args)}"

    def newest_first(
        self,
        select: str,
        *,
        limit: int,
        cursor: tuple[datetime, uuid.UUID] | None,
        created_at: str = "created_at",
        id_: str = "id",
    ) -> str:
        """``select`` with the conditions, the page after ``cursor`` (the (created_at, id) of the
        last row of the previous page) and at most ``limit`` rows, newest first."""
        if cursor is not None:
            self.where.append(
                f"({created_at}, {id_}) < ({self.arg(cursor[0])}, {self.arg(cursor[1])})"
            )
        sql = select + (" WHERE " + " AND ".join(self.where) if self.where else "")
        return sql + f" ORDER BY {created_at} DESC, {id_} DESC LIMIT {self.arg(limit)}"
