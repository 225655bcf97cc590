"""What the use cases need from the outside world, as Protocols.

The real adapters live in ``chain/`` (the exchange gateway) and ``store/`` (the unit of work); unit
tests use hand-written fakes of these ports.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from dydx_router.domain.agent_limits import AgentUsage
from dydx_router.domain.market import MarketSpec
from dydx_router.domain.order import ChainError, Order, OrderStatus, StatusChange
from dydx_router.domain.planning import OrderPlan
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.domain.risk import Exposure
from dydx_router.domain.sync import VenueOrder


class DatabaseUnavailable(ConnectionError):
    """PostgreSQL cannot be reached, or it dropped the connection mid-transaction (raised by
    the unit of work and every other port the database backs, `store/`).

    Nothing of the transaction was kept, except when the connection broke during ``COMMIT``
    itself: then its outcome is unknown (the message says so). The pool replaces broken
    connections by itself, so the service recovers when the server is back.
    """

    code = "database_unavailable"


def _is_os_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError)


@dataclass(frozen=True, slots=True)
class StoreFailures:
    """How the database driver says the database is unreachable (`store/database.py`): the
    exception classes to watch, and the test that tells a lost connection from a bad statement.
    The default knows only `DatabaseUnavailable` and socket errors (no driver)."""

    classes: tuple[type[Exception], ...] = (OSError,)
    is_unreachable: Callable[[BaseException], bool] = _is_os_error


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # CheckTx code 0
    REJECTED = "rejected"  # a definitive CheckTx error
    ALREADY_DONE = "already_done"  # e.g. a cancel whose order is already gone
    UNKNOWN = "unknown"  # timeout or transport error after the bytes may have left


@dataclass(frozen=True, slots=True)
class Submission:
    """What came of one broadcast."""

    outcome: Outcome
    tx_hash: str | None = None
    signed_tx: bytes | None = None
    error: ChainError | None = None
    # A rejection the caller may fix by retrying later (rate limit, stale height), as opposed to a
    # rejection of the order itself.
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class SignedOrder:
    tx_hash: str
    signed_tx: bytes


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """What a dry run shows: the sha256 (hex) of the SignDoc a placement would sign. Never a
    signature or transaction bytes."""

    sign_doc_sha256: str


@dataclass(frozen=True, slots=True)
class Position:
    market: str
    size: Decimal  # signed: negative is short
    entry_price: Decimal | None
    unrealized_pnl: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    positions: Sequence[Position]
    equity: Decimal | None
    free_collateral: Decimal | None
    source: str  # "indexer" or "node"


@dataclass(frozen=True, slots=True)
class MarketView:
    spec: MarketSpec
    oracle_price: Decimal | None


# Called with a signed order's bytes before they are broadcast (the write-ahead of its tx).
BeforeBroadcast = Callable[[SignedOrder], Awaitable[None]]


class Exchange(Protocol):
    """The dYdX network as the use cases see it (implemented by ``chain.gateway``)."""

    @property
    def address(self) -> str: ...

    @property
    def chain_id(self) -> str: ...

    def latest_height(self) -> int:
        """The latest committed height from the background cache; raises if unknown/stale."""
        ...

    def market(self, ticker: str) -> MarketSpec:
        """The market's grid; raises UnknownMarket."""
        ...

    def markets(self) -> Sequence[MarketView]: ...

    def oracle_price(self, ticker: str) -> Decimal | None: ...

    def ensure_writable(self) -> None:
        """Raise at once (``ChainUnavailable``, no I/O) when no node endpoint could take a
        broadcast now, so that nothing is persisted for an order that cannot be sent."""
        ...

    async def sign_short_term(self, order: Order, plan: OrderPlan) -> SignedOrder:
        """Sign a short-term placement (no sequence involved), without sending it."""
        ...

    async def sign_preview(self, order: Order, plan: OrderPlan) -> OrderPreview:
        """The hash of what would be signed, without signing, sending or consuming anything
        (dry runs); stateful orders take the account's next sequence as of now."""
        ...

    async def broadcast(self, signed_tx: bytes, *, resend: bool = False) -> Submission:
        """Send signed bytes as they are (placements and identical re-broadcasts). ``resend``:
        an earlier send of these bytes may have landed, so a refusal that says "already
        there" is read as such (``chain/answers.py``)."""
        ...

    async def place_stateful(
        self, order: Order, plan: OrderPlan, *, before_broadcast: BeforeBroadcast | None = None
    ) -> Submission:
        """Sign with the account's sequence and broadcast, through the one writer per account;
        ``before_broadcast`` is awaited with each signed tx before it goes out (write-ahead)."""
        ...

    async def replace_stateful(
        self, order: Order, *, before_broadcast: BeforeBroadcast | None = None
    ) -> Submission:
        """Place a stored stateful order again under its OrderId, re-signed with a fresh
        sequence (only when its earlier tx provably never landed)."""
        ...

    async def sequence_consumed(self, signed_tx: bytes) -> bool:
        """Whether what ``signed_tx`` was signed with can no longer be used, so the tx can never
        be included: the account's committed sequence is past its sequence, or (a timestamp
        nonce) the chain's block time is past the nonce's window and no block holds the tx."""
        ...

    async def indexer_height(self) -> tuple[int, datetime | None]:
        """The height (and its block time) the indexer has processed."""
        ...

    async def cancel(self, order: Order, height: int) -> Submission: ...

    async def tx_result(self, tx_hash: str) -> Submission | None:
        """What the chain committed for a tx (ACCEPTED, or REJECTED with the DeliverTx error);
        None while no block holds it. Short-term txs never appear in a block (v4-chain
        protocol/app/process/utils_disallow_msgs.go)."""
        ...

    async def batch_cancel_short_term(
        self, subaccount_number: int, client_ids: Mapping[int, Sequence[int]], good_til_block: int
    ) -> Submission: ...

    async def account(self, subaccount_number: int) -> AccountSnapshot: ...

    async def venue_order(self, order: Order) -> VenueOrder | None:
        """The indexer's view of ``order`` (None if it does not know it), with the average fill
        price when something was filled."""
        ...


@dataclass(frozen=True, slots=True)
class ChainHeights:
    node_height: int
    indexer_height: int
    indexer_time: datetime


class ChainObserver(Protocol):
    """What the chain shows, read only and without the trading key (the audit's view)."""

    async def heights(self) -> ChainHeights: ...

    async def venue_order(self, order: Order) -> VenueOrder | None:
        """The indexer's status and total filled size of ``order`` (None: it does not know it)."""
        ...


class StoredOrders(Protocol):
    """The stored orders, read only: pages of those created since ``since`` (all if None)."""

    def pages(self, since: datetime | None, page_size: int) -> AsyncIterator[Sequence[Order]]: ...


class OrderRepo(Protocol):
    async def next_client_id(self) -> int: ...

    async def add(self, order: Order, *, reason: str = ..., height: int | None = ...) -> None: ...

    async def locked_exposure(self, order: Order) -> Exposure:
        """Lock ``order``'s (address, subaccount, market) for the transaction; its committed
        open orders."""
        ...

    async def locked_agent_usage(self, key: uuid.UUID, day: datetime) -> AgentUsage:
        """Lock the key's usage for the transaction; its committed usage."""
        ...

    async def get(self, order_id: uuid.UUID, *, with_history: bool = ...) -> Order: ...

    async def get_for_update(self, order_id: uuid.UUID) -> Order: ...

    async def find_by_idempotency_key(
        self, api_key_id: uuid.UUID | None, key: str
    ) -> Order | None: ...

    async def find_by_indexer_ids(self, ids: list[uuid.UUID]) -> list[Order]: ...

    async def history(self, order_id: uuid.UUID) -> list[StatusChange]: ...

    async def transition(
        self,
        order: Order,
        new_status: OrderStatus,
        *,
        reason: str,
        height: int | None = ...,
        **fields: Any,
    ) -> None: ...

    async def update(self, order: Order, **fields: Any) -> None: ...

    async def store_signed(self, order: Order, signed_tx: bytes, tx_hash: str) -> bool:
        """Store the tx about to be broadcast, if the order is still in the status
        ``order.status`` (False: it moved, e.g. a cancel-all took it: do not broadcast)."""
        ...

    async def search(
        self, filters: OrderFilter, *, limit: int = ..., cursor: Cursor | None = ...
    ) -> list[Order]: ...

    async def non_final(
        self,
        *,
        limit: int = ...,
        statuses: Collection[OrderStatus] | None = ...,
        expired_before_block: int | None = ...,
        after: tuple[datetime, uuid.UUID] | None = ...,
    ) -> list[Order]: ...


class GuardReads(Protocol):
    """Reads inside a placement's insert transaction, each under a transaction-scoped lock
    held to its commit (store/exposure.py): what every replica has committed."""

    async def locked_exposure(self, order: Order) -> Exposure:
        """The committed open orders of the order's (address, subaccount, market)."""
        ...

    async def locked_agent_usage(self, key: uuid.UUID, day: datetime) -> AgentUsage:
        """The key's committed usage (notional since ``day``, open orders)."""
        ...


# Re-checks an order against what every replica has committed, before its row is inserted in
# the same transaction; raises to refuse it (service/admission.py).
ExposureGuard = Callable[[GuardReads, Order], Awaitable[None]]


class PlacementWrites(Protocol):
    """The two writes of a placement, each durable when it returns (``store.batch`` groups
    concurrent ones into one commit; the default runs each in a unit of work)."""

    async def next_client_id(self) -> int: ...

    async def insert(
        self,
        order: Order,
        *,
        reason: str,
        height: int | None,
        guard: ExposureGuard | None = None,
    ) -> None:
        """Persist a new order and its first history row; DuplicateOrder on a collision.
        With a ``guard``: in one transaction with the committed exposure's lock and check
        (store/exposure.py); the guard's error refuses the order and nothing is written."""
        ...

    async def record(
        self,
        order: Order,
        target: OrderStatus,
        *,
        reason: str,
        height: int | None,
        **fields: Any,
    ) -> None:
        """The broadcast's outcome; ConcurrentUpdate if the stored status moved meanwhile."""
        ...


class UnitOfWork(Protocol):
    @property
    def orders(self) -> OrderRepo: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
