"""Typed models of the dYdX Indexer's REST and websocket payloads.

Shapes follow comlink's OpenAPI spec (``indexer/services/comlink/public/swagger.json``) and the
websocket documentation (``public/websocket-documentation.md``). Amounts and prices arrive as
decimal strings in human units and become ``Decimal``; heights arrive as strings and become
``int``; status enums are strict (an unknown status is a malformed response, not a guess).
Unknown extra fields are ignored so that an indexer upgrade that adds a field does not break us.
The indexer's UUIDs are computed locally by ``dydx_router.domain.ids``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dydx_router.domain.market import ClobPairStatus, MarketSpec, Side
from dydx_router.domain.sync import VenueStatus

# ``APIOrderStatus`` (OrderStatus plus BEST_EFFORT_OPENED; BEST_EFFORT_* are optimistic) is the
# domain's VenueStatus: the status settlement rules are written against it.
IndexerOrderStatus = VenueStatus


def _no_float(value: object) -> object:
    # The indexer sends every amount as a string; a JSON number here would have passed through a
    # binary float somewhere, so it is refused rather than silently rounded.
    if isinstance(value, float):
        raise ValueError("amounts must be decimal strings, not JSON numbers")
    return value


Dec = Annotated[Decimal, BeforeValidator(_no_float)]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore"
    )


# --- enums -------------------------------------------------------------------------------------


# The indexer spells sides as the domain does.
OrderSide = Side


class IndexerOrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TRAILING_STOP = "TRAILING_STOP"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TWAP = "TWAP"
    TWAP_SUBORDER = "TWAP_SUBORDER"


class IndexerTimeInForce(StrEnum):
    GTT = "GTT"  # POST_ONLY orders are GTT with postOnly=true
    IOC = "IOC"
    FOK = "FOK"


class PositionSide(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


class PositionStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    LIQUIDATED = "LIQUIDATED"


class Liquidity(StrEnum):
    TAKER = "TAKER"
    MAKER = "MAKER"


class FillType(StrEnum):
    LIMIT = "LIMIT"
    LIQUIDATED = "LIQUIDATED"
    LIQUIDATION = "LIQUIDATION"
    DELEVERAGED = "DELEVERAGED"
    OFFSETTING = "OFFSETTING"
    TWAP_SUBORDER = "TWAP_SUBORDER"


class MarketType(StrEnum):
    PERPETUAL = "PERPETUAL"
    SPOT = "SPOT"


class PerpetualMarketType(StrEnum):
    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


# --- REST --------------------------------------------------------------------------------------


class IndexerHeight(_Model):
    height: int
    time: datetime


class PerpetualMarket(_Model):
    clob_pair_id: int
    ticker: str
    status: ClobPairStatus
    oracle_price: Dec | None = None
    price_change_24h: Dec | None = Field(default=None, alias="priceChange24H")
    volume_24h: Dec | None = Field(default=None, alias="volume24H")
    trades_24h: int | None = Field(default=None, alias="trades24H")
    next_funding_rate: Dec | None = None
    initial_margin_fraction: Dec
    maintenance_margin_fraction: Dec
    open_interest: Dec | None = None
    atomic_resolution: int
    quantum_conversion_exponent: int
    tick_size: Dec
    step_size: Dec
    step_base_quantums: int
    subticks_per_tick: int
    market_type: PerpetualMarketType
    open_interest_lower_cap: Dec | None = None
    open_interest_upper_cap: Dec | None = None
    base_open_interest: Dec | None = None
    default_funding_rate_1h: Dec | None = Field(default=None, alias="defaultFundingRate1H")

    def to_market_spec(self) -> MarketSpec:
        return MarketSpec(
            ticker=self.ticker,
            clob_pair_id=self.clob_pair_id,
            atomic_resolution=self.atomic_resolution,
            quantum_conversion_exponent=self.quantum_conversion_exponent,
            step_base_quantums=self.step_base_quantums,
            subticks_per_tick=self.subticks_per_tick,
            status=self.status,
        )


class PerpetualPosition(_Model):
    market: str
    status: PositionStatus
    side: PositionSide
    size: Dec  # signed: negative for SHORT
    max_size: Dec
    entry_price: Dec
    exit_price: Dec | None = None
    realized_pnl: Dec
    unrealized_pnl: Dec
    created_at: datetime
    created_at_height: int
    closed_at: datetime | None = None
    sum_open: Dec
    sum_close: Dec
    net_funding: Dec
    subaccount_number: int


class AssetPosition(_Model):
    symbol: str
    side: PositionSide
    size: Dec
    asset_id: str
    # Absent in the websocket snapshot's copy of the subaccount (websocket-documentation.md).
    subaccount_number: int | None = None


class Subaccount(_Model):
    address: str
    subaccount_number: int
    equity: Dec
    free_collateral: Dec
    open_perpetual_positions: dict[str, PerpetualPosition]
    asset_positions: dict[str, AssetPosition]
    margin_enabled: bool
    updated_at_height: int | None = None
    latest_processed_block_height: int | None = None


class IndexerOrder(_Model):
    id: uuid.UUID
    subaccount_id: uuid.UUID
    client_id: int
    clob_pair_id: int
    side: OrderSide
    size: Dec
    total_filled: Dec
    price: Dec
    type: IndexerOrderType
    reduce_only: bool
    order_flags: int
    good_til_block: int | None = None
    good_til_block_time: datetime | None = None
    created_at_height: int | None = None
    created_at: datetime | None = None
    client_metadata: int
    trigger_price: Dec | None = None
    builder_address: str | None = None
    fee_ppm: int | None = None
    order_router_address: str | None = None
    duration: int | None = None
    interval: int | None = None
    price_tolerance: int | None = None
    time_in_force: IndexerTimeInForce
    status: IndexerOrderStatus
    post_only: bool
    ticker: str
    updated_at: datetime | None = None
    updated_at_height: int | None = None
    subaccount_number: int


class Fill(_Model):
    id: uuid.UUID
    side: OrderSide
    liquidity: Liquidity
    type: FillType
    market: str
    market_type: MarketType
    price: Dec
    size: Dec
    fee: Dec  # negative is a rebate
    affiliate_rev_share: Dec
    created_at: datetime
    created_at_height: int
    order_id: uuid.UUID | None = None
    client_metadata: int | None = None
    subaccount_number: int
    builder_fee: Dec | None = None
    builder_address: str | None = None
    order_router_address: str | None = None
    order_router_fee: Dec | None = None
    position_size_before: Dec | None = None
    entry_price_before: Dec | None = None
    position_side_before: str | None = None


class FillsPage(_Model):
    fills: list[Fill]
    page_size: int | None = None
    total_results: int | None = None
    offset: int | None = None


class PnlTick(_Model):
    equity: Dec
    total_pnl: Dec
    net_transfers: Dec
    created_at: datetime
    block_height: int
    block_time: datetime


class HistoricalPnlPage(_Model):
    historical_pnl: list[PnlTick]
    page_size: int | None = None
    total_results: int | None = None
    offset: int | None = None


class PriceLevel(_Model):
    price: Dec
    size: Dec


class Orderbook(_Model):
    bids: list[PriceLevel]  # best (highest) first
    asks: list[PriceLevel]  # best (lowest) first


# --- websocket ---------------------------------------------------------------------------------


class WsOrderUpdate(_Model):
    """``OrderSubaccountMessageContents`` (indexer/packages/postgres/src/types/
    websocket-message-types.ts). Only ``id``, ``status`` and ``orderFlags`` are relied on: the
    published example omits even ``subaccountId`` and ``clientId``."""

    id: uuid.UUID
    subaccount_id: uuid.UUID | None = None
    client_id: int | None = None
    clob_pair_id: int | None = None
    side: OrderSide | None = None
    size: Dec | None = None
    ticker: str | None = None
    price: Dec | None = None
    type: IndexerOrderType | None = None
    time_in_force: IndexerTimeInForce | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    status: IndexerOrderStatus
    order_flags: int
    total_filled: Dec | None = None
    total_optimistic_filled: Dec | None = None
    good_til_block: int | None = None
    good_til_block_time: datetime | None = None
    trigger_price: Dec | None = None
    updated_at: datetime | None = None
    updated_at_height: int | None = None
    removal_reason: str | None = None
    created_at_height: int | None = None
    client_metadata: int | None = None


class WsFill(_Model):
    """``FillSubaccountMessageContents``."""

    id: uuid.UUID
    subaccount_id: uuid.UUID
    side: OrderSide
    liquidity: Liquidity
    type: FillType
    clob_pair_id: int
    size: Dec
    price: Dec
    quote_amount: Dec
    event_id: str
    transaction_hash: str
    created_at: datetime
    created_at_height: int
    order_id: uuid.UUID | None = None
    ticker: str


class WsPerpetualPosition(_Model):
    address: str
    subaccount_number: int
    position_id: str
    market: str
    side: PositionSide
    status: PositionStatus
    size: Dec
    max_size: Dec
    net_funding: Dec
    entry_price: Dec
    exit_price: Dec | None = None
    sum_open: Dec
    sum_close: Dec
    realized_pnl: Dec | None = None
    unrealized_pnl: Dec | None = None


class WsAssetPosition(_Model):
    address: str
    subaccount_number: int
    position_id: str
    asset_id: str
    symbol: str
    side: PositionSide
    size: Dec


class SubaccountSnapshotContents(_Model):
    """``subscribed`` contents of v4_subaccounts: REST subaccount + open orders + height.

    A subaccount the indexer does not know yet (its REST call 404s) is answered with empty
    contents ``{}``, and its updates still arrive on the subscription once it is indexed
    (socks ``getInitialResponseForSubaccountSubscription``, ``EMPTY_INITIAL_RESPONSE``): the
    subaccount is then None."""

    subaccount: Subaccount | None = None
    orders: list[IndexerOrder] = []
    block_height: int | None = None


class SubaccountUpdateContents(_Model):
    perpetual_positions: list[WsPerpetualPosition] = []
    asset_positions: list[WsAssetPosition] = []
    orders: list[WsOrderUpdate] = []
    fills: list[WsFill] = []
    block_height: int | None = None


class BlockHeightContents(_Model):
    """v4_block_height: the snapshot is ``/v4/height`` ({height, time}); updates carry
    ``blockHeight`` (indexer/services/socks/src/helpers/from-kafka-helpers.ts)."""

    height: int = Field(validation_alias="blockHeight")
    time: datetime
