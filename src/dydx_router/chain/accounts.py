"""The exchange gateway's reads of the account and of one order on the venue: positions and
collateral (indexer, else node), an order's status and fills (mixed into `DydxExchange`,
``chain/gateway.py``)."""

from __future__ import annotations

from decimal import Decimal

import structlog

from dydx_router.chain.errors import (
    IndexerError,
    IndexerNotFound,
)
from dydx_router.chain.fills import order_fill_price
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import NodeClient
from dydx_router.chain.prices import OraclePrices
from dydx_router.chain.tx import Signer
from dydx_router.chain.wallet import address_of
from dydx_router.domain.market import MarketSpec
from dydx_router.domain.order import Order
from dydx_router.domain.sync import VenueOrder
from dydx_router.service.ports import (
    AccountSnapshot,
    Position,
)

log = structlog.get_logger(__name__)
# The id of USDC in x/assets (asset 0), the only collateral asset.
USDC_ASSET_ID = 0


class AccountReads:
    """The account and order reads of `DydxExchange`."""

    # Set by `DydxExchange.__init__`.
    node: NodeClient
    indexer: IndexerClient
    _specs: dict[str, MarketSpec]
    _perp_to_ticker: dict[int, str]
    _oracle: OraclePrices
    # The key-custody port (`chain.tx.Signer`): a Wallet or a KMS/HSM adapter, nothing more.
    wallet: Signer
    # A permissioned key (x/accountplus): the account is the owner's, the wallet only signs.
    _owner: str | None
    _address: str | None

    @property
    def address(self) -> str:
        """The account traded for: the owner's, else the wallet's own. Derived once: bech32 of
        the key's hash is ~70 µs of pure Python, and every order reads it (5 % of the router's
        CPU under load when it was derived on each read)."""
        if self._address is None:
            self._address = self._owner or address_of(self.wallet.public_key)
        return self._address

    async def account(self, subaccount_number: int) -> AccountSnapshot:
        try:
            sub = await self.indexer.subaccount(self.address, subaccount_number)
        except IndexerNotFound:
            return AccountSnapshot((), Decimal(0), Decimal(0), "indexer")
        except IndexerError as e:
            log.warning("positions_from_node", reason=str(e))
            return await self._account_from_node(subaccount_number)
        positions = [
            Position(p.market, p.size, p.entry_price, p.unrealized_pnl)
            for p in sub.open_perpetual_positions.values()
        ]
        return AccountSnapshot(positions, sub.equity, sub.free_collateral, "indexer")

    async def _account_from_node(self, subaccount_number: int) -> AccountSnapshot:
        """Sizes from the chain when the indexer is down; equity from the oracle prices."""
        sub = await self.node.subaccount(self.address, subaccount_number)
        usdc = sum(
            (
                Decimal(a.quantums).scaleb(-6)
                for a in sub.asset_positions
                if a.asset_id == USDC_ASSET_ID
            ),
            Decimal(0),
        )
        positions: list[Position] = []
        equity: Decimal | None = usdc
        for p in sub.perpetual_positions:
            ticker = self._perp_to_ticker.get(p.perpetual_id)
            if ticker is None or ticker not in self._specs:
                continue
            size = self._specs[ticker].size_of(abs(p.quantums)) * (1 if p.quantums > 0 else -1)
            positions.append(Position(ticker, size, None, None))
            oracle = self._oracle.last(ticker)
            # quote_balance is the position's USDC leg (negative for a long bought on credit).
            if equity is not None and oracle is not None:
                equity += size * oracle + Decimal(p.quote_balance).scaleb(-6)
            else:
                equity = None
        return AccountSnapshot(positions, equity, None, "node")

    async def venue_order(self, order: Order) -> VenueOrder | None:
        try:
            seen = await self.indexer.order(order.indexer_order_id)
        except IndexerNotFound:
            return None
        avg: Decimal | None = None
        if seen.total_filled > 0:
            avg = await self._average_fill_price(order, seen.total_filled, seen.updated_at_height)
        return VenueOrder(
            status=seen.status,
            total_filled=seen.total_filled,
            average_fill_price=avg,
        )

    async def _average_fill_price(
        self, order: Order, total_filled: Decimal, last_height: int | None
    ) -> Decimal | None:
        spec = self._specs.get(order.market)
        return await order_fill_price(
            self.indexer,
            order,
            total_filled,
            last_height,
            spec.tick_size if spec is not None else None,
        )
