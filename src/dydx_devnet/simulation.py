"""Seeded market activity: an oracle random walk and synthetic market makers.

Both are deterministic for a given ``--seed``: the walk of each market at each height draws from
its own generator seeded by (seed, height, market), so it does not depend on what else happened.
Prices are integers in the market's oracle exponent throughout.

The oracle publishes a new price only when it moved by at least the market's
``min_price_change_ppm`` from the last published price (as the chain's price daemon does).
"""

from __future__ import annotations

import hashlib
import math
import random

import bech32

from dydx_devnet.model import Market, MarketPrice, Order, OrderId, Side, SubaccountId

WALK_SIGMA_PPM = 800  # per-block standard deviation of the walk
MEAN_REVERSION_DIV = 400  # pulls the walk back toward its start: no drift over long runs
MM_LEVELS = 5
MM_SPREAD_PPM = 1_000  # distance of level k from the oracle: k * 0.1%
MM_LEVEL_NOTIONAL_USDC = 25_000
MM_GTB_OFFSET = 20
MM_REQUOTE_AFTER = 10  # blocks
MM_USDC = 1_000_000_000


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def market_maker_address(seed: int) -> str:
    h = hashlib.sha256(f"dydx-devnet-market-maker:{seed}".encode()).digest()[:20]
    words = bech32.convertbits(h, 8, 5)
    assert words is not None
    return str(bech32.bech32_encode("dydx", words))


class OracleWalk:
    def __init__(self, seed: int, prices: dict[int, MarketPrice]) -> None:
        self.seed = seed
        self.start = {mid: p.price for mid, p in prices.items()}
        self.true = dict(self.start)

    def set(self, market_id: int, price: int) -> None:
        self.true[market_id] = price
        self.start[market_id] = price

    def step(self, height: int, market_id: int) -> int:
        rng = _rng(self.seed, "oracle", height, market_id)
        cur, start = self.true[market_id], self.start[market_id]
        drift_ppm = (start - cur) * 1_000_000 // (start * MEAN_REVERSION_DIV)
        delta_ppm = round(rng.gauss(0, WALK_SIGMA_PPM)) + drift_ppm
        new = max(1, cur * (1_000_000 + delta_ppm) // 1_000_000)
        self.true[market_id] = new
        return new


def should_publish(published: int, candidate: int, min_change_ppm: int) -> bool:
    return abs(candidate - published) * 1_000_000 >= min_change_ppm * published


def ladder(seed: int, height: int, market: Market, price: MarketPrice, owner: str) -> list[Order]:
    """The market maker's orders around the oracle price for this block: ``MM_LEVELS`` bids
    rounded down to the tick and asks rounded up, each about ``MM_LEVEL_NOTIONAL_USDC``."""
    rng = _rng(seed, "mm", height, market.clob_pair_id)
    oracle = market.oracle_subticks(price)
    tick = market.clob_pair.subticks_per_tick
    step = market.clob_pair.step_base_quantums
    # quantums for one level: notional / price, in base quantums
    base_per_level = MM_LEVEL_NOTIONAL_USDC / price.human
    quantums_per_level = int(base_per_level.scaleb(-market.atomic_resolution))
    sid = SubaccountId(owner, 0)
    orders: list[Order] = []
    for k in range(1, MM_LEVELS + 1):
        for side in (Side.BUY, Side.SELL):
            offset = oracle * k * MM_SPREAD_PPM / 1_000_000
            raw = oracle - offset if side == Side.BUY else oracle + offset
            ticks = math.floor(raw / tick) if side == Side.BUY else math.ceil(raw / tick)
            subticks = max(tick, ticks * tick)
            scale_pct = rng.randint(50, 150)
            q = quantums_per_level * scale_pct // 100
            q = max(step, q // step * step)
            client_id = (height * 2 * MM_LEVELS + (k - 1) * 2 + (side - 1)) % 2**32
            orders.append(
                Order(
                    order_id=OrderId(sid, client_id, 0, market.clob_pair_id),
                    side=side,
                    quantums=q,
                    subticks=subticks,
                    good_til_block=height + MM_GTB_OFFSET,
                )
            )
    return orders
