"""Use cases: place, cancel, close, and read orders and positions.

Placement is write-ahead: validate → quantize → allocate the chain client id → persist PENDING and
commit → broadcast → record the outcome. No broadcast ever happens without a committed row, and a
write whose outcome is unknown is never retried with new identifiers (STYLE.md, PROTOCOL.md §11.4).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as fields_of
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

import structlog

from dydx_router.domain.errors import (
    ConcurrentUpdate,
    DuplicateOrder,
    InvalidOrder,
    NoPosition,
    OrderNotCancelable,
    OrderNotFound,
    SubaccountForbidden,
    UnknownMarket,
    WithdrawnBeforeBroadcast,
)
from dydx_router.domain.ids import order_uuid
from dydx_router.domain.market import Side
from dydx_router.domain.order import (
    TRANSITIONS,
    Order,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from dydx_router.domain.planning import OrderPlan, OrderRequest, PlanningContext, plan_order
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.domain.windows import cancel_good_til_block
from dydx_router.observability import metrics, tracing
from dydx_router.service.cancels import CancelFailure, CancelReport, record_cancel_outcome
from dydx_router.service.faults import FaultHolds, Step
from dydx_router.service.idempotency import find_replay
from dydx_router.service.lifecycle import WriteGate
from dydx_router.service.ports import (
    AccountSnapshot,
    BeforeBroadcast,
    Clock,
    Exchange,
    MarketView,
    OrderPreview,
    Outcome,
    PlacementWrites,
    SignedOrder,
    Submission,
    UnitOfWorkFactory,
)
from dydx_router.service.throttle import BATCH_CANCEL_WEIGHT

if TYPE_CHECKING:
    from dydx_router.service.risk import PreTradeGate

log = structlog.get_logger(__name__)

# MsgBatchCancel carries at most 100 cancels (MaxMsgBatchCancelBatchSize,
# protocol/x/clob/types/constants.go).
MAX_BATCH_CANCELS = 100
# Orders read per page by a cancel-all.
CANCEL_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the API key, the subaccounts it may use (None: all), and whether it sees
    every order of those subaccounts (scope ``orders:all``, or an unrestricted admin) or only
    the orders it placed itself. Orders placed without a key (before keys were recorded, or by
    the service itself) are seen only by callers that see every order."""

    api_key_id: uuid.UUID | None = None
    subaccounts: frozenset[int] | None = None
    all_orders: bool = False

    @classmethod
    def system(cls) -> Caller:
        """The service itself (the kill switch): every order of every subaccount."""
        return cls(all_orders=True)

    def sees(self, order: Order) -> bool:
        if self.subaccounts is not None and order.subaccount_number not in self.subaccounts:
            return False
        return self.all_orders or order.api_key_id == self.api_key_id

    def check_subaccount(self, number: int) -> None:
        if self.subaccounts is not None and number not in self.subaccounts:
            raise SubaccountForbidden(
                f"this API key may not use subaccount {number}", subaccount=number
            )


# Writes the audit entry of cancels in the unit of work that marks them CANCEL_REQUESTED.
CancelAudit: TypeAlias = Callable[[Any, Sequence[Order]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A placement as the API receives it (schema-validated, human units)."""

    request: OrderRequest
    subaccount_number: int
    client_order_id: str | None = None
    idempotency_key: str | None = None
    reason: str | None = None  # the caller's stated reason (not part of the fingerprint)
    # The fingerprint of what the caller asked when the order was derived from it (a close:
    # its size comes from the position, which the close itself changes).
    asked: str | None = None

    def fingerprint(self) -> str:
        """Stable hash of what was asked, so a reused idempotency key with a different body is
        told apart from a replay."""
        if self.asked is not None:
            return self.asked
        body = asdict(self.request) | {
            "subaccount_number": self.subaccount_number,
            "client_order_id": self.client_order_id,
        }
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    replayed: bool = False
    # The broadcast's outcome when it could not be stored (the database failed after the
    # broadcast): ``order.status`` is what the stored row says; the reconciler records the truth.
    unrecorded: OrderStatus | None = None


@dataclass
class OrderServiceConfig:
    good_til_block_offset: int = 20
    default_good_til_seconds: int = 30 * 24 * 3600
    default_slippage_bps: int = 100
    default_subaccount: int = 0


class UowPlacements:
    """PlacementWrites over units of work: each write in a transaction of its own."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def next_client_id(self) -> int:
        async with self._uow() as uow:
            return await uow.orders.next_client_id()

    async def insert(self, order: Order, *, reason: str, height: int | None) -> None:
        async with self._uow() as uow:
            await uow.orders.add(order, reason=reason, height=height)
            await uow.commit()

    async def record(
        self,
        order: Order,
        target: OrderStatus,
        *,
        reason: str,
        height: int | None,
        **fields: Any,
    ) -> None:
        async with self._uow() as uow:
            await uow.orders.transition(order, target, reason=reason, height=height, **fields)
            await uow.commit()


@dataclass
class OrderService:
    uow: UnitOfWorkFactory
    exchange: Exchange
    config: OrderServiceConfig = field(default_factory=OrderServiceConfig)
    clock: Clock = field(default=lambda: datetime.now(UTC))
    # Kill switch, risk limits and the chain's rate, checked before anything is persisted.
    gate: PreTradeGate | None = None
    # Writes in flight, so that a shutdown lets them finish (service/lifecycle.py).
    writes: WriteGate = field(default_factory=WriteGate)
    # Where placements write their PENDING row and outcome (store.batch.PlacementWriter groups
    # concurrent ones into one commit); default: a unit of work per write.
    placements: PlacementWrites | None = None
    # Orders between their PENDING row and their recorded outcome in this process: the
    # reconciler leaves these to their placement.
    placing: set[uuid.UUID] = field(default_factory=set)
    # Fault injection for crash tests (settings.fault_holds; off in production).
    holds: FaultHolds = field(default_factory=FaultHolds)
    # Called with the subaccount of every order about to be broadcast, so that the status
    # stream follows it (workers/follow.py); must not block.
    follow: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if self.placements is None:
            self.placements = UowPlacements(self.uow)

    # --- place ------------------------------------------------------------------------------
    async def place(self, cmd: PlaceOrder, caller: Caller) -> PlaceResult:
        """Place one order (see the module docstring); counted and timed by outcome."""
        start = time.perf_counter()
        outcome = "failed"
        req = cmd.request
        try:
            with (
                tracing.span("orders.place", market=req.market, type=req.type.value),
                self.writes.enter(),
            ):
                result = await self._place(cmd, caller)
            outcome = "replayed" if result.replayed else result.order.status.value.lower()
            return result
        finally:
            metrics.record_order(
                self._market_label(req.market),
                req.type.value,
                outcome,
                time.perf_counter() - start,
            )

    def _market_label(self, ticker: str) -> str:
        """The ticker if it is a market of the chain, so a caller's typo cannot add a series."""
        try:
            self.exchange.market(ticker)
        except UnknownMarket:
            return "unknown"
        return ticker

    async def _place(self, cmd: PlaceOrder, caller: Caller) -> PlaceResult:
        caller.check_subaccount(cmd.subaccount_number)
        # Only a request with a key can be replayed, so only its body is worth a hash.
        fingerprint, key = None, caller.api_key_id
        if cmd.idempotency_key is not None:
            fingerprint = cmd.fingerprint()
            existing = await self._replay(caller, cmd.idempotency_key, fingerprint)
            if existing is not None:
                return PlaceResult(existing, replayed=True)

        plan = self._plan(cmd.request)
        height = plan.height
        # Every node endpoint failing: say so now, before a row is written or a quota is used.
        self.exchange.ensure_writable()
        admission = None
        if self.gate is not None:
            admission = await self.gate.admit(cmd.request, plan, cmd.subaccount_number, key)
            if self.exchange.latest_height() != height:
                # The chain's rate window held the order for later blocks: plan it anew, so its
                # good-til-block counts from the height it is sent at.
                plan = self._plan(cmd.request)
                height = plan.height
        writes = self.placements
        assert writes is not None
        try:
            with tracing.span("db.next_client_id"):
                client_id = await writes.next_client_id()
            order = self._new_order(cmd, caller, plan, client_id, fingerprint)
            if plan.is_short_term:
                # Short-term txs need no sequence: sign now so the exact bytes are stored with
                # the row and an UNKNOWN order can only ever be re-sent identically.
                with tracing.span("chain.sign"):
                    signed = await self.exchange.sign_short_term(order, plan)
                order.signed_tx, order.tx_hash = signed.signed_tx, signed.tx_hash
            await self.holds.at(Step.BEFORE_ROW)
            with tracing.span("db.insert_order"):
                await writes.insert(order, reason="accepted by the router", height=height)
        except BaseException as exc:
            # Not persisted (a duplicate, a lost database, a cancelled request): the exposure
            # reserved for it must not linger.
            if admission is not None:
                admission.release()
            if not isinstance(exc, DuplicateOrder) or cmd.idempotency_key is None:
                raise
            # A concurrent duplicate won the race: answer as a replay of it (409 while it is
            # still in flight).
            assert fingerprint is not None
            replay = await self._replay(caller, cmd.idempotency_key, fingerprint)
            if replay is None:
                raise
            return PlaceResult(replay, replayed=True)
        if admission is not None:
            admission.committed()
        if self.follow is not None:
            self.follow(order.subaccount_number)

        structlog.contextvars.bind_contextvars(order_id=str(order.id), market=order.market)
        if order.tx_hash is not None:
            structlog.contextvars.bind_contextvars(tx_hash=order.tx_hash)
        self.placing.add(order.id)
        try:
            if plan.is_short_term:
                assert order.signed_tx is not None
                await self.holds.at(Step.BEFORE_BROADCAST)
                submission = await self.exchange.broadcast(order.signed_tx)
            else:
                try:
                    submission = await self.exchange.place_stateful(
                        order, plan, before_broadcast=self._write_ahead(order)
                    )
                except WithdrawnBeforeBroadcast:
                    return PlaceResult(await self.get(order.id, caller))
            await self.holds.at(Step.AFTER_BROADCAST)
            with tracing.span("db.record_outcome"):
                try:
                    await self._record_submission(writes, order, submission, height)
                except OSError as exc:  # DatabaseUnavailable, a pool acquire timing out
                    return self._unrecorded(order, submission, exc)
        finally:
            self.placing.discard(order.id)
        return PlaceResult(order)

    def _write_ahead(self, order: Order) -> BeforeBroadcast:
        """Store each signed stateful tx before it is broadcast (as short-term bytes are with
        the row): a process that dies mid-broadcast leaves the exact tx to look up (GetTx) or
        re-send; an order with no stored tx was provably never broadcast."""

        async def store(signed: SignedOrder) -> None:
            async with self.uow() as uow:
                stored = await uow.orders.store_signed(order, signed.signed_tx, signed.tx_hash)
                await uow.commit()
            if not stored:
                # A cancel-all took the order while it waited for the sequencer: not sent.
                raise WithdrawnBeforeBroadcast(
                    f"order {order.id} was cancelled before its broadcast"
                )
            structlog.contextvars.bind_contextvars(tx_hash=signed.tx_hash)
            await self.holds.at(Step.BEFORE_BROADCAST)

        return store

    def _unrecorded(self, order: Order, submission: Submission, exc: BaseException) -> PlaceResult:
        """The chain answered but the answer could not be stored. The client still gets the
        order's id (202: never a 5xx that invites a second placement); the row says PENDING
        with the tx stored before the broadcast, which the reconciler settles from the chain
        (a re-send of the same bytes is answered "already there")."""
        outcome = {
            Outcome.ACCEPTED: OrderStatus.SUBMITTED,
            Outcome.ALREADY_DONE: OrderStatus.SUBMITTED,
            Outcome.REJECTED: OrderStatus.REJECTED,
        }.get(submission.outcome, OrderStatus.UNKNOWN)
        log.warning("order_outcome_not_stored", outcome=outcome.value, error=type(exc).__name__)
        return PlaceResult(order, unrecorded=outcome)

    async def dry_run(self, cmd: PlaceOrder, caller: Caller) -> tuple[Order, OrderPreview]:
        """Everything placement does up to signing; nothing is stored or sent."""
        caller.check_subaccount(cmd.subaccount_number)
        plan, key = self._plan(cmd.request), caller.api_key_id
        if self.gate is not None:
            (await self.gate.check(cmd.request, plan, cmd.subaccount_number, key)).release()
        async with self.uow() as uow:
            # A real id from the shared sequence, so the signed bytes are the ones a placement
            # could send; taking one stores nothing.
            client_id = await uow.orders.next_client_id()
        order = self._new_order(cmd, caller, plan, client_id, None)
        return order, await self.exchange.sign_preview(order, plan)

    def _plan(self, req: OrderRequest) -> OrderPlan:
        return plan_order(
            req,
            PlanningContext(
                spec=self.exchange.market(req.market),
                height=self.exchange.latest_height(),
                now=self.clock(),
                good_til_block_offset=self.config.good_til_block_offset,
                default_good_til_seconds=self.config.default_good_til_seconds,
                default_slippage_bps=self.config.default_slippage_bps,
                # Only a market order is priced from the oracle (a conditional one from its
                # trigger): a stale price (PriceStale, 503) must not refuse a limit order.
                reference_price=(
                    self.exchange.oracle_price(req.market) if req.type is OrderType.MARKET else None
                ),
            ),
        )

    async def _replay(self, caller: Caller, key: str, fingerprint: str) -> Order | None:
        # 422 for another body, 409 while the first is in flight (service/idempotency.py).
        return await find_replay(self.uow, caller.api_key_id, key, fingerprint)

    def _new_order(
        self,
        cmd: PlaceOrder,
        caller: Caller,
        plan: OrderPlan,
        client_id: int,
        fingerprint: str | None,
    ) -> Order:
        req = cmd.request
        spec = self.exchange.market(req.market)
        return Order(
            id=uuid.uuid4(),
            market=req.market,
            side=req.side,
            type=req.type,
            time_in_force=plan.time_in_force,
            size=spec.size_of(plan.quantums),
            price=plan.price,
            quantums=plan.quantums,
            subticks=plan.subticks,
            client_id=client_id,
            order_flags=plan.order_flags,
            clob_pair_id=spec.clob_pair_id,
            address=self.exchange.address,
            subaccount_number=cmd.subaccount_number,
            indexer_order_id=order_uuid(
                self.exchange.address,
                cmd.subaccount_number,
                client_id,
                spec.clob_pair_id,
                plan.order_flags,
            ),
            reduce_only=req.reduce_only,
            post_only=plan.time_in_force is TimeInForce.POST_ONLY,
            trigger_price=(spec.price_of(plan.trigger_subticks) if plan.trigger_subticks else None),
            trigger_subticks=plan.trigger_subticks or None,
            good_til_block=plan.good_til_block,
            good_til_block_time=plan.good_til_block_time,
            client_order_id=cmd.client_order_id,
            api_key_id=caller.api_key_id,
            idempotency_key=cmd.idempotency_key,
            request_fingerprint=fingerprint,
            slippage_bps=plan.slippage_bps,
            placement_reason=cmd.reason,
        )

    async def _record_submission(
        self, writes: PlacementWrites, order: Order, submission: Submission, height: int
    ) -> None:
        fields: dict[str, object] = {}
        if submission.tx_hash is not None:
            fields["tx_hash"] = submission.tx_hash
        if submission.signed_tx is not None:
            fields["signed_tx"] = submission.signed_tx
        err = submission.error
        if err is not None and submission.outcome is not Outcome.ALREADY_DONE:
            fields |= {
                "error_codespace": err.codespace,
                "error_code": err.code,
                "error_log": err.log,
            }
        if submission.outcome is Outcome.ACCEPTED:
            target, reason = OrderStatus.SUBMITTED, "checktx accepted"
            # The common outcome rides on the request's one access line (order_id, market and
            # tx_hash are bound already): a second INFO line per order cost ~4% of the router's
            # CPU at saturation. The rarer outcomes below keep lines of their own.
            structlog.contextvars.bind_contextvars(order_status=target.value)
            log.debug("order_submitted", tx_hash=submission.tx_hash)
        elif submission.outcome is Outcome.ALREADY_DONE:
            # The same stateful order (clob/3005) is already with the chain, or a re-send heard
            # that the original landed (chain/answers.py). sdk/19 is not among these: a node
            # answers it for rejected bytes too, so it leaves the outcome UNKNOWN.
            target = OrderStatus.SUBMITTED
            reason = (
                f"already with the chain: {err.codespace}/{err.code}" if err else "already sent"
            )
            log.info("order_submitted", tx_hash=submission.tx_hash, already=True)
        elif submission.outcome is Outcome.REJECTED:
            target = OrderStatus.REJECTED
            reason = f"checktx rejected: {err.codespace}/{err.code}" if err else "rejected"
            log.info("order_rejected", codespace=err and err.codespace, code=err and err.code)
        else:
            target = OrderStatus.UNKNOWN
            reason = "broadcast outcome unknown: " + (err.log if err else "no answer")
            log.warning("order_outcome_unknown", tx_hash=submission.tx_hash)
        try:
            await writes.record(order, target, reason=reason, height=height, **fields)
        except ConcurrentUpdate:
            # The reconciler got to the row first (a broadcast slower than its settle delay):
            # keep the broadcast's facts and whatever status the venue already established,
            # under the row lock of a transaction of its own.
            async with self.uow() as locked:
                fresh = await locked.orders.get_for_update(order.id)
                keep = fresh.status is OrderStatus.CANCEL_REQUESTED and target in (
                    OrderStatus.SUBMITTED,
                    OrderStatus.UNKNOWN,
                )
                if keep:
                    # A cancel-all reached it while it was being placed: the cancel stands (the
                    # reconciler sends it if the order rests).
                    if fields:
                        await locked.orders.update(fresh, **fields)
                elif target in TRANSITIONS[fresh.status]:
                    await locked.orders.transition(
                        fresh, target, reason=reason, height=height, **fields
                    )
                else:
                    await locked.orders.update(fresh, **fields)
                fresh.history = await locked.orders.history(order.id)
                await locked.commit()
            for f in fields_of(Order):
                setattr(order, f.name, getattr(fresh, f.name))

    # --- read -------------------------------------------------------------------------------
    async def get(self, order_id: uuid.UUID, caller: Caller) -> Order:
        async with self.uow() as uow:
            order = await uow.orders.get(order_id)
        if not caller.sees(order):  # 404: another key's order is not revealed to exist
            raise OrderNotFound(f"order {order_id} not found", order_id=str(order_id))
        return order

    async def search(
        self,
        filters: OrderFilter,
        caller: Caller,
        *,
        limit: int,
        cursor: Cursor | None,
    ) -> list[Order]:
        if caller.subaccounts is not None or not caller.all_orders:
            allowed = (
                None
                if caller.subaccounts is None
                else tuple((self.exchange.address, n) for n in sorted(caller.subaccounts))
            )
            filters = dataclasses.replace(
                filters,
                subaccounts=allowed,
                placed_by=None if caller.all_orders else (caller.api_key_id,),
            )
        async with self.uow() as uow:
            return await uow.orders.search(filters, limit=limit, cursor=cursor)

    def markets(self) -> Sequence[MarketView]:
        return self.exchange.markets()

    async def account(self, subaccount_number: int, caller: Caller) -> AccountSnapshot:
        caller.check_subaccount(subaccount_number)
        return await self.exchange.account(subaccount_number)

    # --- cancel -----------------------------------------------------------------------------
    async def cancel(
        self, order_id: uuid.UUID, caller: Caller, *, audit: CancelAudit | None = None
    ) -> Order:
        with self.writes.enter():
            order, _ = await self._cancel(order_id, caller, audit)
            return order

    async def _cancel(
        self, order_id: uuid.UUID, caller: Caller, audit: CancelAudit | None = None
    ) -> tuple[Order, CancelReport]:
        """Cancel one order; OrderNotCancelable when it is final, not sent yet, or the chain
        refused the cancel (then it is back to its earlier status)."""
        order = await self.get(order_id, caller)
        if order.status.is_final:
            raise OrderNotCancelable(
                f"order {order_id} is already {order.status}", status=str(order.status)
            )
        self.exchange.ensure_writable()
        if self.gate is not None:
            await self.gate.admit_cancel(short_term=order.is_short_term)
        height = self.exchange.latest_height()
        async with self.uow() as uow:
            order = await uow.orders.get_for_update(order_id)
            if order.status.is_final:
                raise OrderNotCancelable(
                    f"order {order_id} is already {order.status}", status=str(order.status)
                )
            before = order.status
            if before is not OrderStatus.CANCEL_REQUESTED:
                reason = "cancel requested"
                if before is OrderStatus.PENDING:
                    reason += " before the placement's outcome was known"
                await uow.orders.transition(
                    order, OrderStatus.CANCEL_REQUESTED, reason=reason, height=height
                )
            if audit is not None:
                await audit(uow, [order])
            await uow.commit()
            order.history = await uow.orders.history(order.id)
        if before is OrderStatus.PENDING and not order.is_short_term:
            # A stateful cancel needs the order in state (clob/3006). Its placement sees the
            # request before it broadcasts (write-ahead) and withdraws; if it was sent
            # already, the reconciler sends the cancel once the venue shows the order.
            return order, CancelReport(orders=[order])
        # The connection is back in the pool before the chain call: a slow node must not hold
        # one pooled connection per cancel in flight (and starve placements and reads).
        # A short-term cancel of an OrderId the chain does not hold yet succeeds and keeps
        # the placement off the book (memclob.go CancelOrder, validateNewOrder: clob/7).
        await self.holds.at(Step.BEFORE_CANCEL_BROADCAST)
        submission = await self.exchange.cancel(order, height)
        await self.holds.at(Step.AFTER_CANCEL_BROADCAST)
        report = await record_cancel_outcome(self.uow, [(order, before)], submission, height)
        log.info("order_cancel_sent", outcome=submission.outcome.value)
        if submission.outcome is Outcome.REJECTED and report.failed:
            failure = report.failed[0]
            raise OrderNotCancelable(failure.message, **failure.details)
        return order, report

    async def cancel_many(
        self,
        caller: Caller,
        *,
        order_ids: Sequence[uuid.UUID] | None = None,
        market: str | None = None,
        audit: CancelAudit | None = None,
    ) -> CancelReport:
        """Cancel the given orders, or every open order (optionally of one market): the orders
        as stored afterwards, and those the cancel failed for (service/cancels.py). ``audit``
        writes the audit entry of each cancel in the transaction that marks it requested."""
        if order_ids:
            targets = [await self.get(oid, caller) for oid in order_ids]
        else:
            if market is not None:
                self.exchange.market(market)  # UnknownMarket for a typo
            targets = [
                o
                for o in await self._every_non_final()
                if (market is None or o.market == market) and caller.sees(o)
            ]
        # PENDING orders too: one being placed now, or left by a crash, may reach the chain.
        live = [o for o in targets if not o.status.is_final]
        if live:
            self.exchange.ensure_writable()
        height = self.exchange.latest_height()
        short = [o for o in live if o.is_short_term]
        stateful = [o for o in live if not o.is_short_term]
        done = CancelReport()
        # Short-term: MsgBatchCancel per subaccount, at most 100 cancels per message.
        by_sub: dict[int, list[Order]] = defaultdict(list)
        for o in short:
            by_sub[o.subaccount_number].append(o)
        for sub, orders in by_sub.items():
            for i in range(0, len(orders), MAX_BATCH_CANCELS):
                chunk = orders[i : i + MAX_BATCH_CANCELS]
                with self.writes.enter():
                    done.add(await self._batch_cancel_chunk(sub, chunk, height, audit))
        for o in stateful:
            try:
                with self.writes.enter():
                    done.add((await self._cancel(o.id, caller, audit))[1])
            except OrderNotCancelable as e:
                done.orders.append(await self.get(o.id, caller))
                done.failed.append(CancelFailure(o.id, e.code, e.message, e.details))
        return done

    async def _every_non_final(self) -> list[Order]:
        """Every non-final order, a page at a time (no cap: a kill switch covers them all)."""
        found: list[Order] = []
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            async with self.uow() as uow:
                page = await uow.orders.non_final(limit=CANCEL_PAGE, after=after)
            found += page
            if len(page) < CANCEL_PAGE or page[-1].created_at is None:
                return found
            after = (page[-1].created_at, page[-1].id)

    async def _batch_cancel_chunk(
        self, subaccount: int, chunk: list[Order], height: int, audit: CancelAudit | None = None
    ) -> CancelReport:
        if self.gate is not None:
            await self.gate.admit_cancel(short_term=True, weight=BATCH_CANCEL_WEIGHT)
        async with self.uow() as uow:
            marked: list[tuple[Order, OrderStatus]] = []
            for o in chunk:
                fresh = await uow.orders.get_for_update(o.id)
                if fresh.status.is_final:
                    continue
                before = fresh.status
                if before is not OrderStatus.CANCEL_REQUESTED:
                    # A PENDING one is covered too: the cancel keeps its placement off the book
                    # (clob/7) or removes it.
                    await uow.orders.transition(
                        fresh, OrderStatus.CANCEL_REQUESTED, reason="batch cancel", height=height
                    )
                marked.append((fresh, before))
            if audit is not None and marked:
                await audit(uow, [o for o, _ in marked])
            await uow.commit()
        if not marked:
            return CancelReport()
        ids: dict[int, list[int]] = defaultdict(list)
        for o, _ in marked:
            ids[o.clob_pair_id].append(o.client_id)
        gtb = cancel_good_til_block(height, [o.good_til_block for o, _ in marked])
        # Sent with no pooled connection held (see _cancel).
        submission = await self.exchange.batch_cancel_short_term(subaccount, ids, gtb)
        log.info("orders_batch_cancel_sent", count=len(marked), outcome=submission.outcome.value)
        return await record_cancel_outcome(
            self.uow, marked, submission, height, what="batch cancel"
        )

    # --- positions --------------------------------------------------------------------------
    async def close_position(
        self,
        market: str,
        caller: Caller,
        *,
        subaccount_number: int | None = None,
        size: Decimal | None = None,
        max_slippage_bps: int | None = None,
        idempotency_key: str | None = None,
        client_order_id: str | None = None,
        reason: str | None = None,
    ) -> PlaceResult:
        """A reduce-only IOC market order on the opposite side (PROTOCOL.md §11.10).

        With an ``idempotency_key``, a retry answers the close placed the first time, found by
        the key and the close's own parameters before the position is read: once the first
        close filled, the position it was sized from is gone (or smaller)."""
        sub = self.config.default_subaccount if subaccount_number is None else subaccount_number
        caller.check_subaccount(sub)
        self.exchange.market(market)
        asked = None
        if idempotency_key is not None:
            asked = _close_fingerprint(market, sub, size, max_slippage_bps, client_order_id)
            existing = await self._replay(caller, idempotency_key, asked)
            if existing is not None:
                return PlaceResult(existing, replayed=True)
        account = await self.exchange.account(sub)
        position = next((p for p in account.positions if p.market == market and p.size), None)
        if position is None:
            raise NoPosition(
                f"there is no open {market} position in subaccount {sub}",
                market=market,
                subaccount=sub,
            )
        held = abs(position.size)
        if size is not None:
            if size <= 0:
                raise InvalidOrder("size must be positive", code="invalid_size")
            if size > held:
                raise InvalidOrder(
                    f"size {size} exceeds the {market} position of {held}",
                    code="size_exceeds_position",
                    position_size=str(held),
                )
        request = OrderRequest(
            market=market,
            side=Side.SELL if position.size > 0 else Side.BUY,
            type=OrderType.MARKET,
            size=held if size is None else size,
            reduce_only=True,
            max_slippage_bps=max_slippage_bps,
        )
        return await self.place(
            PlaceOrder(
                request=request,
                subaccount_number=sub,
                client_order_id=client_order_id,
                idempotency_key=idempotency_key,
                asked=asked,
                reason=reason,
            ),
            caller,
        )


def _close_fingerprint(
    market: str, sub: int, size: Decimal | None, slippage: int | None, client_order_id: str | None
) -> str:
    body = {
        "close": market,
        "subaccount_number": sub,
        "size": None if size is None else str(size),
        "max_slippage_bps": slippage,
        "client_order_id": client_order_id,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
