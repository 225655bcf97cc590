"""Placing an order (mixed into `OrderService`, service/orders.py).

Placement is write-ahead: validate → quantize → allocate the chain client id → persist PENDING and
commit → broadcast → record the outcome. No broadcast ever happens without a committed row, and a
write whose outcome is unknown is never retried with new identifiers."""

from __future__ import annotations

import time
import uuid
from dataclasses import fields as fields_of
from typing import TYPE_CHECKING

import structlog

from dydx_router.domain.errors import (
    ConcurrentUpdate,
    DuplicateOrder,
    WithdrawnBeforeBroadcast,
)
from dydx_router.domain.ids import order_uuid
from dydx_router.domain.order import (
    TRANSITIONS,
    Order,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from dydx_router.domain.planning import OrderPlan, OrderRequest, PlanningContext, plan_order
from dydx_router.observability import metrics, tracing
from dydx_router.service.commands import Caller, PlaceOrder, PlaceResult
from dydx_router.service.faults import Step
from dydx_router.service.idempotency import find_replay
from dydx_router.service.order_queries import OrderQueries
from dydx_router.service.ports import (
    BeforeBroadcast,
    OrderPreview,
    Outcome,
    PlacementWrites,
    SignedOrder,
    Submission,
)

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)


class Placing(OrderQueries):
    """place, dry_run and the write-ahead steps between."""

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
                await writes.insert(
                    order,
                    reason="accepted by the router",
                    height=height,
                    guard=None if admission is None else admission.guard,
                )
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
