"""The devnet's chain state and its read API.

`ChainState` is owned and mutated by the engine (`dydx_devnet.engine`) on the event loop's thread;
everything else (gRPC servicers, the indexer, the admin API) only *reads* it through the public
methods below, which return frozen snapshots (`dydx_devnet.model`). Reads are synchronous and
consistent: the engine never yields to the loop in the middle of a mutation.

Read API (all amounts in chain integers, see `dydx_devnet.model`):

- chain: ``chain_id``, ``height`` (latest committed block), ``block_time`` (its time, UTC),
  ``block_time_ms``, ``genesis_time``;
- markets: ``markets()`` (sorted by clob pair id), ``market(clob_pair_id)``,
  ``market_by_ticker(ticker)``, ``market_by_perpetual(perpetual_id)``;
  ``oracle_price(market_id)``, ``oracle_prices()``; ``open_interest(perpetual_id)``;
  ``funding_index(perpetual_id)``; ``fee_tiers``;
- accounts: ``account(address)``; ``subaccount(owner, number)``, ``subaccounts(owner=None)``;
- orders: ``open_orders(subaccount_id=None, clob_pair_id=None)`` (resting orders and untriggered
  conditional orders), ``open_order(order_id)``, ``book(clob_pair_id)`` (aggregated levels).
"""

from __future__ import annotations

from datetime import UTC, datetime

from dydx_devnet.accountplus.nonces import NonceState
from dydx_devnet.accountplus.store import AuthenticatorStore
from dydx_devnet.book import BookSnapshot, OrderBook, RestingOrder
from dydx_devnet.genesis import Genesis
from dydx_devnet.model import (
    Account,
    FeeTier,
    LiquidityTier,
    Market,
    MarketPrice,
    OpenOrder,
    OrderId,
    PerpetualPosition,
    Subaccount,
    SubaccountId,
)


class SubaccountRecord:
    """Mutable subaccount: USDC quote quantums and signed positions by perpetual id."""

    __slots__ = ("id", "positions", "usdc")

    def __init__(self, id_: SubaccountId, usdc: int = 0) -> None:
        self.id = id_
        self.usdc = usdc
        # perpetual id -> [signed quantums, funding index at last settlement]
        self.positions: dict[int, list[int]] = {}

    def position(self, perpetual_id: int) -> int:
        p = self.positions.get(perpetual_id)
        return p[0] if p else 0

    def copy(self) -> SubaccountRecord:
        out = SubaccountRecord(self.id, self.usdc)
        out.positions = {pid: list(p) for pid, p in self.positions.items()}
        return out

    def snapshot(self) -> Subaccount:
        return Subaccount(
            id=self.id,
            usdc_quantums=self.usdc,
            perpetual_positions=tuple(
                PerpetualPosition(pid, q, fi) for pid, (q, fi) in sorted(self.positions.items())
            ),
        )


class AccountRecord:
    __slots__ = ("account_number", "address", "pub_key", "sequence")

    def __init__(self, address: str, account_number: int) -> None:
        self.address = address
        self.account_number = account_number
        self.sequence = 0
        self.pub_key: bytes | None = None

    def copy(self) -> AccountRecord:
        out = AccountRecord(self.address, self.account_number)
        out.sequence = self.sequence
        out.pub_key = self.pub_key
        return out

    def snapshot(self) -> Account:
        return Account(self.address, self.account_number, self.sequence, self.pub_key)


class ChainState:
    def __init__(self, genesis: Genesis, genesis_time_ms: int) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.height = 0
        self.block_time_ms = genesis_time_ms
        self.genesis_time_ms = genesis_time_ms
        tiers = {t.id: t for t in genesis.liquidity_tiers}
        params = {m.id: m for m in genesis.market_params}
        perps = {p.id: p for p in genesis.perpetuals}
        self._markets: dict[int, Market] = {
            c.id: Market(
                c,
                perps[c.perpetual_id],
                tiers[perps[c.perpetual_id].liquidity_tier],
                params[perps[c.perpetual_id].market_id],
            )
            for c in sorted(genesis.clob_pairs, key=lambda c: c.id)
        }
        self._by_ticker = {m.ticker: m for m in self._markets.values()}
        self._by_perpetual = {m.perpetual.id: m for m in self._markets.values()}
        self._by_market_id = {m.market_param.id: m for m in self._markets.values()}
        self.prices: dict[int, MarketPrice] = {p.id: p for p in genesis.market_prices}
        self.funding_indices: dict[int, int] = {p.id: 0 for p in genesis.perpetuals}
        self.accounts: dict[str, AccountRecord] = {}
        self.next_account_number = 0
        self.subaccount_records: dict[SubaccountId, SubaccountRecord] = {}
        self.books: dict[int, OrderBook] = {cid: OrderBook(cid) for cid in self._markets}
        # Untriggered conditional orders, by OrderId (they are in no book until triggered).
        self.untriggered: dict[OrderId, RestingOrder] = {}
        # x/accountplus: every account's authenticators, the next id and the active flag
        self.authenticators = AuthenticatorStore(smart_account_active=genesis.smart_account_active)
        # x/accountplus AccountState: the timestamp nonces the blocks have accepted, by account
        self.timestamp_nonces: dict[str, NonceState] = {}

    def load_from(self, other: ChainState) -> None:
        """Become a copy of ``other``, sharing nothing mutable: a validator's check state reset
        to the committed state, or the committed state taken from the block's proposer."""
        self.height = other.height
        self.block_time_ms = other.block_time_ms
        self._markets = dict(other._markets)
        self._by_ticker = dict(other._by_ticker)
        self._by_perpetual = dict(other._by_perpetual)
        self._by_market_id = dict(other._by_market_id)
        self.prices = dict(other.prices)
        self.funding_indices = dict(other.funding_indices)
        self.accounts = {a: r.copy() for a, r in other.accounts.items()}
        self.next_account_number = other.next_account_number
        self.subaccount_records = {s: r.copy() for s, r in other.subaccount_records.items()}
        self.books = {cid: b.copy() for cid, b in other.books.items()}
        self.untriggered = {oid: r.copy() for oid, r in other.untriggered.items()}
        self.authenticators = other.authenticators.copy()
        self.timestamp_nonces = {a: n.copy() for a, n in other.timestamp_nonces.items()}

    # ---- chain ---------------------------------------------------------------------------
    @property
    def block_time(self) -> datetime:
        return datetime.fromtimestamp(self.block_time_ms / 1000, tz=UTC)

    @property
    def genesis_time(self) -> datetime:
        return datetime.fromtimestamp(self.genesis_time_ms / 1000, tz=UTC)

    # ---- markets -------------------------------------------------------------------------
    def markets(self) -> list[Market]:
        return list(self._markets.values())

    def market(self, clob_pair_id: int) -> Market | None:
        return self._markets.get(clob_pair_id)

    def market_by_ticker(self, ticker: str) -> Market | None:
        return self._by_ticker.get(ticker)

    def market_by_perpetual(self, perpetual_id: int) -> Market | None:
        return self._by_perpetual.get(perpetual_id)

    def set_market(self, market: Market) -> None:
        """Engine/admin only: replace a market's parameters (e.g. a clob pair status)."""
        self._markets[market.clob_pair_id] = market
        self._by_ticker[market.ticker] = market
        self._by_perpetual[market.perpetual.id] = market
        self._by_market_id[market.market_param.id] = market

    def markets_by_perpetual(self) -> dict[int, Market]:
        """Perpetual id -> market (a live view; do not mutate)."""
        return self._by_perpetual

    def market_by_market_id(self, market_id: int) -> Market | None:
        return self._by_market_id.get(market_id)

    def oracle_price(self, market_id: int) -> MarketPrice:
        return self.prices[market_id]

    def oracle_prices(self) -> dict[int, MarketPrice]:
        return dict(self.prices)

    def liquidity_tier(self, tier_id: int) -> LiquidityTier | None:
        for m in self._markets.values():
            if m.liquidity_tier.id == tier_id:
                return m.liquidity_tier
        return next((t for t in self.genesis.liquidity_tiers if t.id == tier_id), None)

    @property
    def fee_tiers(self) -> tuple[FeeTier, ...]:
        return self.genesis.fee_tiers

    def funding_index(self, perpetual_id: int) -> int:
        return self.funding_indices[perpetual_id]

    def open_interest(self, perpetual_id: int) -> int:
        """Sum of long positions (base quantums), as the chain's `open_interest`."""
        return sum(max(s.position(perpetual_id), 0) for s in self.subaccount_records.values())

    # ---- accounts ------------------------------------------------------------------------
    def account(self, address: str) -> Account | None:
        a = self.accounts.get(address)
        return a.snapshot() if a else None

    def subaccount(self, owner: str, number: int) -> Subaccount | None:
        s = self.subaccount_records.get(SubaccountId(owner, number))
        return s.snapshot() if s else None

    def subaccounts(self, owner: str | None = None) -> list[Subaccount]:
        return [
            s.snapshot()
            for sid, s in sorted(
                self.subaccount_records.items(), key=lambda kv: (kv[0].owner, kv[0].number)
            )
            if owner is None or sid.owner == owner
        ]

    # ---- orders --------------------------------------------------------------------------
    def open_orders(
        self, subaccount_id: SubaccountId | None = None, clob_pair_id: int | None = None
    ) -> list[OpenOrder]:
        books = (
            [self.books[clob_pair_id]] if clob_pair_id is not None and clob_pair_id in self.books
            else [] if clob_pair_id is not None else list(self.books.values())
        )  # fmt: skip
        out = [
            r.snapshot()
            for b in books
            for r in b.orders.values()
            if subaccount_id is None or r.order.order_id.subaccount_id == subaccount_id
        ]
        out.extend(
            r.snapshot()
            for oid, r in self.untriggered.items()
            if (subaccount_id is None or oid.subaccount_id == subaccount_id)
            and (clob_pair_id is None or oid.clob_pair_id == clob_pair_id)
        )
        return out

    def open_order(self, order_id: OrderId) -> OpenOrder | None:
        book = self.books.get(order_id.clob_pair_id)
        r = book.get(order_id) if book else None
        if r is None:
            r = self.untriggered.get(order_id)
        return r.snapshot() if r else None

    def book(self, clob_pair_id: int) -> BookSnapshot | None:
        b = self.books.get(clob_pair_id)
        return b.snapshot() if b else None
