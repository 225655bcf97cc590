"""Hand-written fakes of the order service's ports (no I/O), shared by the service's unit tests
(test_order_service.py and the modules beside it) and the workers' ones."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import pytest

from dydx_router.chain.errors import ChainUnavailable
from dydx_router.domain.agent_limits import AgentUsage
from dydx_router.domain.errors import (
    ConcurrentUpdate,
    DuplicateOrder,
    OrderNotFound,
    UnknownMarket,
)
from dydx_router.domain.market import MarketSpec, Side
from dydx_router.domain.order import (
    ChainError,
    Order,
    OrderStatus,
    OrderType,
    StatusChange,
    check_transition,
)
from dydx_router.domain.planning import OrderPlan, OrderRequest
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.domain.risk import Exposure
from dydx_router.domain.sync import VenueOrder
from dydx_router.service.orders import OrderService, PlaceOrder
from dydx_router.service.ports import (
    AccountSnapshot,
    MarketView,
    OrderPreview,
    Outcome,
    Position,
    SignedOrder,
    Submission,
)
from dydx_router.store.order_rows import apply_fields

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BTC = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)


# --- fakes ---------------------------------------------------------------------------------


class FakeOrders:
    def __init__(self, store: FakeStore) -> None:
        self.s = store
        self.pending: dict[uuid.UUID, Order] = {}
        self.pending_history: list[tuple[uuid.UUID, StatusChange]] = []

    async def next_client_id(self) -> int:
        self.s.next_id += 1
        return self.s.next_id

    async def add(self, order: Order, *, reason: str = "", height: int | None = None) -> None:
        for o in [*self.s.rows.values(), *self.pending.values()]:
            if order.idempotency_key and o.idempotency_key == order.idempotency_key:
                raise DuplicateOrder("dup")
        self.pending[order.id] = _copy(order)
        self.pending_history.append(
            (order.id, StatusChange(None, order.status, reason, height, datetime.now(UTC)))
        )

    async def locked_exposure(self, order: Order) -> Exposure:
        # One event loop, no await until the add: the fake's "lock" is the loop itself.
        open_ = [
            o
            for o in self.s.rows.values()
            if not o.status.is_final
            and (o.address, o.subaccount_number, o.market)
            == (order.address, order.subaccount_number, order.market)
        ]
        buy = sum((o.size - o.filled_size for o in open_ if o.side is Side.BUY), Decimal(0))
        sell = sum((o.size - o.filled_size for o in open_ if o.side is Side.SELL), Decimal(0))
        return Exposure(Decimal(0), buy, sell, len(open_))

    async def locked_agent_usage(self, key: uuid.UUID, day: datetime) -> AgentUsage:
        mine = [o for o in self.s.rows.values() if o.api_key_id == key]
        daily = sum(
            (o.size * (o.price or 0) for o in mine if o.status is not OrderStatus.REJECTED),
            Decimal(0),
        )
        return AgentUsage(daily, sum(not o.status.is_final for o in mine))

    async def get(self, order_id: uuid.UUID, *, with_history: bool = True) -> Order:
        o = self.pending.get(order_id) or self.s.rows.get(order_id)
        if o is None:
            raise OrderNotFound("nope")
        o = _copy(o)
        if with_history:
            o.history = await self.history(order_id)
        return o

    async def get_for_update(self, order_id: uuid.UUID) -> Order:
        return await self.get(order_id, with_history=False)

    async def find_by_idempotency_key(self, api_key_id: uuid.UUID | None, key: str) -> Order | None:
        return next((_copy(o) for o in self.s.rows.values() if o.idempotency_key == key), None)

    async def find_by_indexer_ids(self, ids: list[uuid.UUID]) -> list[Order]:
        return [_copy(o) for o in self.s.rows.values() if o.indexer_order_id in ids]

    async def history(self, order_id: uuid.UUID) -> list[StatusChange]:
        rows = self.s.history + self.pending_history
        return [h for oid, h in rows if oid == order_id]

    async def transition(
        self,
        order: Order,
        new_status: OrderStatus,
        *,
        reason: str,
        height: int | None = None,
        **fields: Any,
    ) -> None:
        check_transition(order.status, new_status)
        stored = self.pending.get(order.id) or self.s.rows[order.id]
        if stored.status is not order.status:
            raise ConcurrentUpdate("moved")
        stored = _copy(stored)
        stored.status = new_status
        apply_fields(stored, fields)
        self.pending[order.id] = stored
        self.pending_history.append(
            (order.id, StatusChange(order.status, new_status, reason, height, datetime.now(UTC)))
        )
        order.status = new_status
        order.last_error = stored.last_error

    async def update(self, order: Order, **fields: Any) -> None:
        stored = _copy(self.pending.get(order.id) or self.s.rows[order.id])
        for k, v in fields.items():
            setattr(stored, k, v)
        self.pending[order.id] = stored

    async def store_signed(self, order: Order, signed_tx: bytes, tx_hash: str) -> bool:
        stored = self.pending.get(order.id) or self.s.rows[order.id]
        if stored.status is not order.status:
            return False
        await self.update(order, signed_tx=signed_tx, tx_hash=tx_hash)
        order.signed_tx, order.tx_hash = signed_tx, tx_hash
        return True

    async def search(
        self, filters: OrderFilter, *, limit: int = 50, cursor: Cursor | None = None
    ) -> list[Order]:
        return list(self.s.rows.values())[:limit]

    async def non_final(
        self,
        *,
        limit: int = 1000,
        statuses: Collection[OrderStatus] | None = None,
        expired_before_block: int | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]:
        rows = sorted(self.s.rows.values(), key=lambda o: o.created_at or _EPOCH)
        return [
            _copy(o)
            for o in rows
            if not o.status.is_final
            and (after is None or (o.created_at or _EPOCH, o.id) > after)
            and (statuses is None or o.status in statuses)
            and (
                expired_before_block is None
                or (
                    o.is_short_term
                    and o.status is not OrderStatus.PENDING
                    and o.good_til_block is not None
                    and o.good_til_block < expired_before_block
                )
            )
        ][:limit]


def _copy(o: Order) -> Order:
    from dataclasses import replace

    return replace(o, history=list(o.history))


@dataclass
class FakeStore:
    rows: dict[uuid.UUID, Order] = field(default_factory=dict)
    history: list[tuple[uuid.UUID, StatusChange]] = field(default_factory=list)
    next_id: int = 0
    commits: int = 0


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.orders = FakeOrders(store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self.store.rows.update(self.orders.pending)
        self.store.history += self.orders.pending_history
        self.store.commits += 1
        await self.rollback()

    async def rollback(self) -> None:
        self.orders.pending = {}
        self.orders.pending_history = []


@dataclass
class FakeExchange:
    store: FakeStore
    outcome: Outcome = Outcome.ACCEPTED
    height: int = 100
    positions: list[Position] = field(default_factory=list)
    venue: VenueOrder | None = None
    broadcasts: list[bytes] = field(default_factory=list)
    rows_at_broadcast: list[int] = field(default_factory=list)
    cancels: list[uuid.UUID] = field(default_factory=list)
    batches: list[tuple[int, dict[int, list[int]], int]] = field(default_factory=list)
    # Every node endpoint's breaker open (chain/resilience.py): ensure_writable fails fast.
    chain_down: bool = False
    # GetTx: what blocks hold, by tx hash (absent: in no block).
    committed: dict[str, Submission] = field(default_factory=dict)
    resends: list[bool] = field(default_factory=list)
    # Stored txs whose sequence the account's committed sequence is past.
    consumed: set[bytes] = field(default_factory=set)
    # The indexer's height (None: the node's).
    indexer_at: int | None = None

    @property
    def address(self) -> str:
        return "dydx1fake"

    def ensure_writable(self) -> None:
        if self.chain_down:
            raise ChainUnavailable("every node endpoint is failing", circuit_open=True)

    @property
    def chain_id(self) -> str:
        return "test"

    def latest_height(self) -> int:
        return self.height

    def market(self, ticker: str) -> MarketSpec:
        if ticker != "BTC-USD":
            raise UnknownMarket(f"unknown market {ticker}")
        return BTC

    def markets(self) -> Sequence[MarketView]:
        return [MarketView(BTC, Decimal(50000))]

    def oracle_price(self, ticker: str) -> Decimal | None:
        return Decimal(50000)

    async def sign_short_term(self, order: Order, plan: OrderPlan) -> SignedOrder:
        return SignedOrder("AB" * 32, f"tx-{order.client_id}".encode())

    async def sign_preview(self, order: Order, plan: OrderPlan) -> OrderPreview:
        return OrderPreview("cd" * 32)

    def _result(self, raw: bytes | None) -> Submission:
        self.rows_at_broadcast.append(len(self.store.rows))
        if self.outcome is Outcome.REJECTED:
            return Submission(
                Outcome.REJECTED, "AB" * 32, raw, ChainError("clob", 2003, "would cross")
            )
        if self.outcome is Outcome.UNKNOWN:
            return Submission(Outcome.UNKNOWN, "AB" * 32, raw, ChainError("router", 0, "down"))
        return Submission(self.outcome, "AB" * 32, raw)

    async def broadcast(self, signed_tx: bytes, *, resend: bool = False) -> Submission:
        self.broadcasts.append(signed_tx)
        self.resends.append(resend)
        return self._result(signed_tx)

    async def place_stateful(
        self, order: Order, plan: OrderPlan, *, before_broadcast: Any = None
    ) -> Submission:
        if before_broadcast is not None:
            await before_broadcast(SignedOrder("CD" * 32, b"stateful"))
        self.broadcasts.append(b"stateful")
        return self._result(b"stateful")

    async def replace_stateful(self, order: Order, *, before_broadcast: Any = None) -> Submission:
        signed = SignedOrder("EF" * 32, b"stateful-again")
        if before_broadcast is not None:
            await before_broadcast(signed)
        self.broadcasts.append(signed.signed_tx)
        return self._result(signed.signed_tx)

    async def sequence_consumed(self, signed_tx: bytes) -> bool:
        return signed_tx in self.consumed

    async def indexer_height(self) -> tuple[int, datetime | None]:
        return (self.height if self.indexer_at is None else self.indexer_at), None

    async def cancel(self, order: Order, height: int) -> Submission:
        self.cancels.append(order.id)
        return self._result(None)

    async def batch_cancel_short_term(
        self, subaccount_number: int, client_ids: Mapping[int, Sequence[int]], good_til_block: int
    ) -> Submission:
        self.batches.append(
            (subaccount_number, {k: list(v) for k, v in client_ids.items()}, good_til_block)
        )
        return self._result(None)

    async def account(self, subaccount_number: int) -> AccountSnapshot:
        return AccountSnapshot(self.positions, Decimal(1000), Decimal(900), "fake")

    async def venue_order(self, order: Order) -> VenueOrder | None:
        return self.venue

    async def tx_result(self, tx_hash: str) -> Submission | None:
        return self.committed.get(tx_hash)


@pytest.fixture
def env() -> tuple[FakeStore, FakeExchange, OrderService]:
    store = FakeStore()
    exchange = FakeExchange(store)
    service = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    return store, exchange, service


def market_buy(**kw: Any) -> PlaceOrder:
    req = OrderRequest(market="BTC-USD", side=Side.BUY, type=OrderType.MARKET, size=Decimal("0.01"))
    return PlaceOrder(request=req, subaccount_number=0, **kw)
