"""The devnet's genesis: a curated subset of the dYdX mainnet genesis parameters.

Values come from `dydxopsdao/networks: dydx-mainnet-1/genesis.json` (2023-10-26). Differences from
that genesis, on purpose:

- clob pairs are ACTIVE (mainnet genesis had INITIALIZING; the live pairs are ACTIVE);
- the block rate limits use the merged short-term field introduced by upgrade v5.0.0
  (`protocol/app/upgrades/v5.0.0/upgrade.go`: (200 + 200) x 5 = 2000 per 5 blocks);
- the chain id is the local one the official clients default to (`localdydxprotocol`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dydx_devnet.model import (
    ClobPair,
    ClobPairStatus,
    FeeTier,
    LiquidityTier,
    MarketParam,
    MarketPrice,
    MarketType,
    Perpetual,
)

CHAIN_ID = "localdydxprotocol"

# `protocol/x/clob/types/constants.go`
SHORT_BLOCK_WINDOW = 40
STATEFUL_ORDER_TIME_WINDOW_S = 95 * 24 * 3600
MAX_SUBACCOUNT_ID_NUMBER = 128_000  # protocol/x/subaccounts/types/subaccount.go
MAX_BATCH_CANCEL_SIZE = 100  # MaxMsgBatchCancelBatchSize


@dataclass(frozen=True, slots=True)
class RateLimit:
    num_blocks: int
    limit: int


@dataclass(frozen=True, slots=True)
class BlockRateLimitConfig:
    """`BlockRateLimitConfiguration` (proto clob/block_rate_limit_config.proto)."""

    max_short_term_orders_and_cancels_per_n_blocks: tuple[RateLimit, ...]
    max_stateful_orders_per_n_blocks: tuple[RateLimit, ...]


@dataclass(frozen=True, slots=True)
class EquityTier:
    usd_tnc_required: int  # quote quantums
    limit: int


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    clob_pairs: tuple[ClobPair, ...]
    perpetuals: tuple[Perpetual, ...]
    liquidity_tiers: tuple[LiquidityTier, ...]
    market_params: tuple[MarketParam, ...]
    market_prices: tuple[MarketPrice, ...]
    fee_tiers: tuple[FeeTier, ...]
    block_rate_limits: BlockRateLimitConfig
    stateful_order_equity_tiers: tuple[EquityTier, ...] = field(default=())
    # x/accountplus Params.is_smart_account_active: true in the module's DefaultGenesis
    # (`protocol/x/accountplus/types/genesis.go`) and in `protocol/testing/genesis.sh`
    smart_account_active: bool = True


def _market(
    ticker: str,
    id_: int,
    *,
    atomic_resolution: int,
    subticks_per_tick: int,
    liquidity_tier: int,
    exponent: int,
    min_price_change_ppm: int,
    price: int,
) -> tuple[ClobPair, Perpetual, MarketParam, MarketPrice]:
    # On mainnet genesis clobPairId = perpetualId = marketId for these markets, and every one
    # has step_base_quantums 1,000,000 and quantum_conversion_exponent -9.
    return (
        ClobPair(id_, id_, 1_000_000, subticks_per_tick, -9, ClobPairStatus.ACTIVE),
        Perpetual(id_, ticker, id_, atomic_resolution, 0, liquidity_tier, MarketType.CROSS),
        MarketParam(id_, ticker, exponent, 3, min_price_change_ppm),
        MarketPrice(id_, exponent, price),
    )


def default_genesis(
    short_term_limit: int = 2000, stateful_scale: int = 1, *, smart_account_active: bool = True
) -> Genesis:
    """Six mainnet markets with their genesis parameters and oracle prices.

    ``short_term_limit`` is the per-account short-term orders+cancels per 5 blocks;
    ``stateful_scale`` multiplies the stateful allowance (2 per block, 20 per 100 blocks) for
    benchmarks of the stateful path itself; ``smart_account_active`` is x/accountplus's
    ``is_smart_account_active`` param."""
    markets = [
        _market("BTC-USD", 0, atomic_resolution=-10, subticks_per_tick=100_000, liquidity_tier=0,
                exponent=-5, min_price_change_ppm=1000, price=2_868_819_524),
        _market("ETH-USD", 1, atomic_resolution=-9, subticks_per_tick=100_000, liquidity_tier=0,
                exponent=-6, min_price_change_ppm=1000, price=1_811_985_252),
        _market("LINK-USD", 2, atomic_resolution=-6, subticks_per_tick=1_000_000,
                liquidity_tier=1, exponent=-9, min_price_change_ppm=2500, price=7_204_646_989),
        _market("SOL-USD", 5, atomic_resolution=-7, subticks_per_tick=1_000_000, liquidity_tier=1,
                exponent=-8, min_price_change_ppm=2500, price=2_350_695_125),
        _market("AVAX-USD", 7, atomic_resolution=-7, subticks_per_tick=1_000_000,
                liquidity_tier=1, exponent=-8, min_price_change_ppm=2500, price=1_223_293_720),
        _market("DOGE-USD", 10, atomic_resolution=-4, subticks_per_tick=1_000_000,
                liquidity_tier=1, exponent=-11, min_price_change_ppm=2500, price=7_320_836_895),
    ]  # fmt: skip
    return Genesis(
        chain_id=CHAIN_ID,
        clob_pairs=tuple(m[0] for m in markets),
        perpetuals=tuple(m[1] for m in markets),
        market_params=tuple(m[2] for m in markets),
        market_prices=tuple(m[3] for m in markets),
        liquidity_tiers=(
            LiquidityTier(0, "Large-Cap", 50_000, 600_000, 1_000_000_000_000, 10_000_000_000),
            LiquidityTier(1, "Mid-Cap", 100_000, 500_000, 250_000_000_000, 5_000_000_000),
            LiquidityTier(2, "Long-Tail", 200_000, 500_000, 100_000_000_000, 2_500_000_000),
            LiquidityTier(3, "Safety", 1_000_000, 200_000, 1_000_000_000, 2_500_000_000),
        ),
        # Only the first tier: the devnet does not track 30-day volume, so every account is in
        # tier 1 (the one every new mainnet account starts in).
        fee_tiers=(FeeTier("1", 0, taker_fee_ppm=500, maker_fee_ppm=-110),),
        block_rate_limits=BlockRateLimitConfig(
            max_short_term_orders_and_cancels_per_n_blocks=(RateLimit(5, short_term_limit),),
            max_stateful_orders_per_n_blocks=(
                RateLimit(1, 2 * stateful_scale),
                RateLimit(100, 20 * stateful_scale),
            ),
        ),
        stateful_order_equity_tiers=(
            EquityTier(0, 0),
            EquityTier(20_000_000, 1),
            EquityTier(100_000_000, 5),
            EquityTier(1_000_000_000, 10),
            EquityTier(10_000_000_000, 100),
            EquityTier(100_000_000_000, 200),
        ),
        smart_account_active=smart_account_active,
    )
