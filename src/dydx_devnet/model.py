"""Value types of the devnet's chain: ids, orders, market parameters, subaccounts.

Everything is in chain integers, exactly as the chain stores it:

- sizes in base *quantums* (``size = quantums * 10**atomic_resolution``),
- prices in *subticks* (``price = subticks * 10**(qce - atomic_resolution - 6)``),
- USDC in quote quantums (``usdc = quantums * 10**-6``),
- oracle prices as ``MarketPrice.price * 10**exponent``.

The ``Market`` join offers the exact ``Decimal`` conversions (``protocol/x/clob/types/quantums.go``,
``price_to_subticks.go``) so that every reader converts the same way.

These types are frozen; the engine keeps its own mutable records and hands out snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum

# USDC is asset 0 with atomic resolution -6 (`QUOTE_CURRENCY_ATOMIC_RESOLUTION`,
# protocol/lib/constants.go).
USDC_ASSET_ID = 0
QUOTE_ATOMIC_RESOLUTION = -6


class Side(IntEnum):
    """`Order.Side` (proto/dydxprotocol/clob/order.proto)."""

    UNSPECIFIED = 0
    BUY = 1
    SELL = 2


class TimeInForce(IntEnum):
    """`Order.TimeInForce`; UNSPECIFIED rests the remainder (the indexer calls it GTT)."""

    UNSPECIFIED = 0
    IOC = 1
    POST_ONLY = 2
    FILL_OR_KILL = 3


class ConditionType(IntEnum):
    UNSPECIFIED = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2


class OrderFlags(IntEnum):
    """`protocol/x/clob/types/order_id.go`."""

    SHORT_TERM = 0
    CONDITIONAL = 32
    LONG_TERM = 64
    TWAP = 128


class ClobPairStatus(IntEnum):
    UNSPECIFIED = 0
    ACTIVE = 1
    PAUSED = 2
    CANCEL_ONLY = 3
    POST_ONLY = 4
    INITIALIZING = 5
    FINAL_SETTLEMENT = 6


class MarketType(IntEnum):
    UNSPECIFIED = 0
    CROSS = 1
    ISOLATED = 2


class Liquidity(IntEnum):
    TAKER = 0
    MAKER = 1


@dataclass(frozen=True, slots=True)
class SubaccountId:
    owner: str
    number: int


@dataclass(frozen=True, slots=True)
class OrderId:
    subaccount_id: SubaccountId
    client_id: int
    order_flags: int
    clob_pair_id: int

    @property
    def is_short_term(self) -> bool:
        return self.order_flags == OrderFlags.SHORT_TERM

    @property
    def is_conditional(self) -> bool:
        return self.order_flags == OrderFlags.CONDITIONAL

    @property
    def is_stateful(self) -> bool:
        return self.order_flags in (OrderFlags.CONDITIONAL, OrderFlags.LONG_TERM, OrderFlags.TWAP)


@dataclass(frozen=True, slots=True)
class Order:
    """A clob `Order` as placed. ``good_til_block``/``good_til_block_time`` are 0 when unset
    (the proto oneof reads as 0 for the other member)."""

    order_id: OrderId
    side: Side
    quantums: int
    subticks: int
    good_til_block: int = 0
    good_til_block_time: int = 0
    time_in_force: TimeInForce = TimeInForce.UNSPECIFIED
    reduce_only: bool = False
    client_metadata: int = 0
    condition_type: ConditionType = ConditionType.UNSPECIFIED
    conditional_order_trigger_subticks: int = 0

    @property
    def is_buy(self) -> bool:
        return self.side == Side.BUY


@dataclass(frozen=True, slots=True)
class ClobPair:
    id: int
    perpetual_id: int
    step_base_quantums: int
    subticks_per_tick: int
    quantum_conversion_exponent: int
    status: ClobPairStatus


@dataclass(frozen=True, slots=True)
class Perpetual:
    id: int
    ticker: str
    market_id: int
    atomic_resolution: int
    default_funding_ppm: int
    liquidity_tier: int
    market_type: MarketType


@dataclass(frozen=True, slots=True)
class LiquidityTier:
    id: int
    name: str
    initial_margin_ppm: int
    maintenance_fraction_ppm: int
    base_position_notional: int
    impact_notional: int


@dataclass(frozen=True, slots=True)
class MarketParam:
    id: int
    pair: str
    exponent: int
    min_exchanges: int
    min_price_change_ppm: int


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """Oracle price: human price = ``price * 10**exponent``."""

    id: int
    exponent: int
    price: int

    @property
    def human(self) -> Decimal:
        return Decimal(self.price).scaleb(self.exponent)


@dataclass(frozen=True, slots=True)
class FeeTier:
    name: str
    absolute_volume_requirement: int
    taker_fee_ppm: int
    maker_fee_ppm: int


@dataclass(frozen=True, slots=True)
class Market:
    """One tradable perpetual: the clob pair, its perpetual, liquidity tier and oracle params."""

    clob_pair: ClobPair
    perpetual: Perpetual
    liquidity_tier: LiquidityTier
    market_param: MarketParam

    @property
    def ticker(self) -> str:
        return self.perpetual.ticker

    @property
    def clob_pair_id(self) -> int:
        return self.clob_pair.id

    @property
    def atomic_resolution(self) -> int:
        return self.perpetual.atomic_resolution

    @property
    def quantum_conversion_exponent(self) -> int:
        return self.clob_pair.quantum_conversion_exponent

    def size(self, quantums: int) -> Decimal:
        """Human size of ``quantums`` (signed values keep their sign)."""
        return Decimal(quantums).scaleb(self.atomic_resolution)

    def price(self, subticks: int) -> Decimal:
        """Human price of ``subticks``: ``subticks * 10**(qce - aR - 6)``."""
        exp = self.quantum_conversion_exponent - self.atomic_resolution + QUOTE_ATOMIC_RESOLUTION
        return Decimal(subticks).scaleb(exp)

    @property
    def step_size(self) -> Decimal:
        return self.size(self.clob_pair.step_base_quantums)

    @property
    def tick_size(self) -> Decimal:
        return self.price(self.clob_pair.subticks_per_tick)

    def oracle_subticks(self, price: MarketPrice) -> Decimal:
        """The oracle price in (fractional) subticks, exact:
        ``price * 10**(exponent - qce + aR + 6)`` (`protocol/x/clob/types/price_to_subticks.go`)."""
        exp = (
            price.exponent
            - self.quantum_conversion_exponent
            + self.atomic_resolution
            - QUOTE_ATOMIC_RESOLUTION
        )
        return Decimal(price.price).scaleb(exp)

    def quote_quantums(self, base_quantums: int, subticks: int) -> int:
        """USDC quantums of a fill, truncated toward zero like `FillAmountToQuoteQuantums`."""
        product = base_quantums * subticks
        exp = self.quantum_conversion_exponent
        if exp >= 0:
            return product * int(10**exp)
        return product // int(10**-exp)


@dataclass(frozen=True, slots=True)
class PerpetualPosition:
    """A signed position (``quantums < 0`` is short). ``funding_index`` is the perpetual's
    funding index when the position last settled funding."""

    perpetual_id: int
    quantums: int
    funding_index: int = 0
    quote_balance: int = 0


@dataclass(frozen=True, slots=True)
class Subaccount:
    """Snapshot of a subaccount. ``usdc_quantums`` is signed (a negative balance is a debt)."""

    id: SubaccountId
    usdc_quantums: int
    perpetual_positions: tuple[PerpetualPosition, ...] = ()
    margin_enabled: bool = True

    def position(self, perpetual_id: int) -> PerpetualPosition | None:
        for p in self.perpetual_positions:
            if p.perpetual_id == perpetual_id:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Account:
    """An x/auth BaseAccount. ``pub_key`` is the 33-byte compressed secp256k1 key, set by the
    account's first signed tx (`SetPubKeyDecorator`)."""

    address: str
    account_number: int
    sequence: int
    pub_key: bytes | None = None


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order held by the devnet: resting on a book, or an untriggered conditional order.

    ``placed_height`` is the height the order became known (the latest committed height for
    short-term orders accepted in CheckTx, the including block for stateful ones)."""

    order: Order
    filled_quantums: int
    placed_height: int
    tx_hash: str
    triggered: bool = True
    placed_at_ms: int = field(default=0)

    @property
    def remaining_quantums(self) -> int:
        return self.order.quantums - self.filled_quantums
