"""What every view shares: the JSON type, USDC amounts, side names, and `Tables`, the part of
the projection (`dydx_devnet.indexer.projection.Projection`) that views read."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from dydx_devnet.indexer.records import MarketRow, PositionRow, SubaccountRow
from dydx_devnet.model import Side, SubaccountId

JSON = dict[str, Any]
USDC_SYMBOL = "USDC"
MILLION = Decimal(1_000_000)


class Tables(Protocol):
    """The indexer's tables as views read them (the projection writes them)."""

    @property
    def markets(self) -> Mapping[int, MarketRow]: ...

    @property
    def by_perpetual(self) -> Mapping[int, MarketRow]: ...

    @property
    def subaccounts(self) -> Mapping[SubaccountId, SubaccountRow]: ...

    @property
    def height(self) -> int | None: ...


def usdc(quote_quantums: int) -> Decimal:
    return Decimal(quote_quantums).scaleb(-6)


def side_name(side: Side) -> str:
    return "BUY" if side == Side.BUY else "SELL"


def position_market(p: Tables, pos: PositionRow) -> MarketRow:
    return p.by_perpetual[pos.perpetual_id]
