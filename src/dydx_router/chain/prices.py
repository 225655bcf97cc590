"""The oracle prices as last read from the node, and how old they are.

The chain's oracle price moves every block (the prices module, updated by the validators'
sidecar); the router reads it from the node every couple of seconds. A price read longer ago
than the limit (the node or the refresh loop failing) is not used for a market order's worst
price or a risk limit: ``PriceStale`` (503 ``price_stale``) rather than a price the market may
have left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from dydx_router.chain.errors import PriceStale
from dydx_router.observability import metrics


class OraclePrices:
    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._prices: dict[str, Decimal] = {}
        # When the prices were last read (monotonic; None: never).
        self._read_at: float | None = None
        self._max_age = max_age_s
        self._clock = clock

    def replace(self, prices: Mapping[str, Decimal]) -> None:
        self._prices = dict(prices)
        self._read_at = self._clock()

    def last(self, ticker: str) -> Decimal | None:
        """The last price read, however old (for listings and estimates)."""
        return self._prices.get(ticker)

    def fresh(self, ticker: str) -> Decimal | None:
        """The price, if it was read within the limit; None if never read for this market."""
        price = self._prices.get(ticker)
        age = self.age()
        if price is not None and age is not None and age > self._max_age:
            metrics.labelled(metrics.PRICE_REFUSALS, ticker).inc()
            raise PriceStale(
                f"the {ticker} oracle price was read {age:.1f} s ago "
                f"(limit {self._max_age:g} s); retry when the node answers again",
                market=ticker,
                age_s=round(age, 1),
            )
        return price

    def age(self) -> float | None:
        """Seconds since the prices were last read (None: never read)."""
        return None if self._read_at is None else self._clock() - self._read_at

    def problem(self) -> str | None:
        """For ``/ready``: prices older than the limit."""
        age = self.age()
        if age is not None and age > self._max_age:
            return f"the oracle prices were read {age:.1f} s ago (limit {self._max_age:g} s)"
        return None
