"""Recovery of orders whose outcome is open and that the indexer does not show: re-sends,
cancels that must reach the chain, and stateful txs looked up on the chain. Part of the
reconciler (``service/sync.py`` ``OrderSync`` mixes this in).

The rules, each from what the chain can prove:

- **Never new identifiers.** A short-term order is only re-sent as its identical stored bytes;
  a stateful one as its stored tx, or (only once that tx provably can never be included) the
  same OrderId re-signed (``Exchange.replace_stateful``).
- **A re-send's refusal is read as a re-send** (``chain/answers.py``): "already there" is not
  REJECTED.
- **Stateful txs are stored before they are broadcast** (``OrderService._write_ahead``), so an
  order without a stored tx was never broadcast, and one with a tx is settled from it: in a
  block (GetTx) → what the block says; the tx in no block and what it was signed with used up
  → it can never be included → the OrderId was never placed; otherwise it may still be in a
  mempool → wait, or re-send the identical bytes. Used up: the account's committed sequence is
  past the tx's (cosmos-sdk x/auth/ante/sigverify.go IncrementSequenceDecorator), or, for a
  timestamp nonce (a permissioned key always, the default mode), the chain's latest block time
  is more than 30 s (plus a margin) past the nonce (v4-chain
  `protocol/x/accountplus/keeper/timestampnonce.go` IsValidTimestampNonce;
  ``chain/sequencer.py`` nonce_expired), judged on the chain's clock, never this machine's. The
  sequence or block time is read before GetTx, so a tx committed between the two reads is found
  by GetTx.
- **The kill switch stops recovery.** Under HALTED nothing is (re-)placed: a short-term order
  that may have been sent is cancelled on chain (a short-term cancel of an OrderId the chain
  does not hold succeeds and keeps the order off the book, memclob.go CancelOrder and
  validateNewOrder clob/7); a stateful one is CANCELED only when provably never placed, else
  left UNKNOWN and looked up again.
- **Lost cancels are re-sent** while the venue still shows the order resting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from dydx_router.domain.order import Order, OrderStatus
from dydx_router.service.ports import (
    BeforeBroadcast,
    Clock,
    Exchange,
    Outcome,
    SignedOrder,
    Submission,
    UnitOfWorkFactory,
)

log = structlog.get_logger(__name__)

_S = OrderStatus


class RecoveryMixin:
    uow: UnitOfWorkFactory
    exchange: Exchange
    clock: Clock
    settle_after: timedelta
    confirm_after: timedelta
    halted: Callable[[], bool]
    in_flight: Callable[[uuid.UUID], bool]
    _cancels_resent: dict[uuid.UUID, datetime]

    # --- writes -----------------------------------------------------------------------------
    async def _move(
        self,
        order: Order,
        target: OrderStatus,
        reason: str,
        height: int | None,
        **fields: Any,
    ) -> bool:
        """``order`` to ``target`` (through UNKNOWN from PENDING when it must), under the row
        lock, only if its stored status is still the one read; False if it moved meanwhile."""
        async with self.uow() as uow:
            fresh = await uow.orders.get_for_update(order.id)
            if fresh.status is not order.status:
                return False
            if fresh.status is target:
                if fields:
                    await uow.orders.update(fresh, **fields)
            else:
                await uow.orders.transition(fresh, target, reason=reason, height=height, **fields)
            await uow.commit()
        log.info("order_recovered", order_id=str(order.id), status=target.value, reason=reason)
        return True

    def _store_tx(self, order: Order) -> BeforeBroadcast:
        async def store(signed: SignedOrder) -> None:
            async with self.uow() as uow:
                fresh = await uow.orders.get_for_update(order.id)
                await uow.orders.store_signed(fresh, signed.signed_tx, signed.tx_hash)
                await uow.commit()

        return store

    # --- short-term -------------------------------------------------------------------------
    async def _resend_short_term(self, order: Order, height: int, report: Any) -> bool:
        assert order.signed_tx is not None
        if self.halted():
            return await self._withdraw_short_term(order, height)
        submission = await self.exchange.broadcast(order.signed_tx, resend=True)
        report.rebroadcast += 1
        return await self._record_rebroadcast(order, submission, height)

    async def _withdraw_short_term(self, order: Order, height: int) -> bool:
        """HALTED: do not re-send; the crash may have come after the broadcast, so cancel the
        OrderId on chain (good until at least the order's good-til-block)."""
        submission = await self.exchange.cancel(order, height)
        if submission.outcome is Outcome.REJECTED:
            err = submission.error
            log.warning(
                "halted_withdraw_refused",
                order_id=str(order.id),
                codespace=err and err.codespace,
                code=err and err.code,
            )
            return False
        return await self._move(
            order,
            _S.CANCEL_REQUESTED,
            "trading halted: not re-sent; cancelled on chain in case an earlier send landed",
            height,
        )

    async def _record_rebroadcast(
        self, order: Order, submission: Submission, height: int, *, how: str = "re-sent"
    ) -> bool:
        outcome, err = submission.outcome, submission.error
        fields: dict[str, object] = (
            {"error_codespace": err.codespace, "error_code": err.code, "error_log": err.log}
            if err is not None and outcome is Outcome.REJECTED
            else {}
        )
        if submission.tx_hash is not None and submission.signed_tx is not None:
            fields |= {"tx_hash": submission.tx_hash, "signed_tx": submission.signed_tx}
        code = f": {err.codespace}/{err.code}" if err else ""
        if outcome is Outcome.ACCEPTED:
            target, reason = _S.SUBMITTED, f"{how}; accepted"
        elif outcome is Outcome.ALREADY_DONE:
            # The earlier send landed (chain/answers.py): the indexer tells what became of it.
            target, reason = _S.SUBMITTED, f"{how}; already with the chain" + code
        elif outcome is Outcome.REJECTED:
            target, reason = _S.REJECTED, f"{how}; rejected" + code
        else:
            target, reason = _S.UNKNOWN, f"{how}; outcome unknown" + code
        log.info(
            "order_rebroadcast",
            order_id=str(order.id),
            outcome=outcome.value,
            codespace=err and err.codespace,
            code=err and err.code,
        )
        if order.status is _S.PENDING and target is not _S.UNKNOWN:
            moved = await self._move(order, _S.UNKNOWN, "recovered after a restart", height)
            if not moved:
                return False
            order.status = _S.UNKNOWN
        await self._move(order, target, reason, height, **fields)
        return outcome is not Outcome.UNKNOWN

    # --- cancels ----------------------------------------------------------------------------
    async def _resend_cancel(self, order: Order, height: int) -> None:
        """A cancel requested a while ago and the venue still shows the order resting: its
        broadcast was lost (a crash after CANCEL_REQUESTED, an unknown outcome). Send it again:
        cancels are idempotent on the chain (clob/9, clob/32: one is already there)."""
        now = self.clock()
        last = self._cancels_resent.get(order.id) or order.updated_at
        if last is not None and now - last < self.settle_after:
            return
        self._cancels_resent[order.id] = now
        submission = await self.exchange.cancel(order, height)
        err = submission.error
        log.info(
            "order_cancel_resent",
            order_id=str(order.id),
            outcome=submission.outcome.value,
            codespace=err and err.codespace,
            code=err and err.code,
        )

    # --- stateful ---------------------------------------------------------------------------
    async def _recover_stateful(self, order: Order, height: int, report: Any) -> bool:
        """A stateful order the indexer does not show, whose placement is not known to have
        landed (PENDING, UNKNOWN, a CANCEL_REQUESTED one that was PENDING, or SUBMITTED for
        longer than the confirmation timeout)."""
        if order.signed_tx is None or order.tx_hash is None:
            if order.status is _S.UNKNOWN:
                return False  # stored before the tx was: nothing to look up
            if order.status is _S.SUBMITTED:
                return False
            # Never broadcast: every stateful tx is stored before it is sent.
            if order.status is _S.CANCEL_REQUESTED or self.halted():
                why = "trading halted" if self.halted() else "cancel requested"
                return await self._move(order, _S.CANCELED, f"never broadcast; {why}", height)
            return await self._replace(order, height, report)
        consumed = await self.exchange.sequence_consumed(order.signed_tx)
        committed = await self.exchange.tx_result(order.tx_hash)
        if committed is not None:
            if committed.outcome is Outcome.ACCEPTED:
                if order.status in (_S.SUBMITTED, _S.CANCEL_REQUESTED):
                    return False  # committed; the indexer has not caught up yet
                return await self._move(order, _S.SUBMITTED, "committed in a block", height)
            err = committed.error
            fields = (
                {"error_codespace": err.codespace, "error_code": err.code, "error_log": err.log}
                if err
                else {}
            )
            code = f": {err.codespace}/{err.code}" if err else ""
            return await self._move(
                order, _S.REJECTED, "failed in its block" + code, height, **fields
            )
        if consumed:
            # In no block, and its sequence is used (or its timestamp nonce is out of the
            # chain's window): this tx can never be included.
            if order.status is _S.CANCEL_REQUESTED or self.halted():
                return await self._move(
                    order, _S.CANCELED, "never placed: its tx can no longer be included", height
                )
            return await self._replace(order, height, report)
        if order.status is _S.SUBMITTED:
            return await self._move(
                order,
                _S.UNKNOWN,
                f"in no block {self.confirm_after.total_seconds():g} s after CheckTx "
                "accepted it; outcome unknown",
                height,
            )
        if order.status is _S.CANCEL_REQUESTED:
            return False  # it may still land: then the venue shows it and the cancel is sent
        if self.halted():
            if order.status is _S.PENDING:
                return await self._move(
                    order, _S.UNKNOWN, "trading halted: not re-sent; outcome unknown", height
                )
            return False
        submission = await self.exchange.broadcast(order.signed_tx, resend=True)
        report.rebroadcast += 1
        if submission.outcome in (Outcome.ALREADY_DONE, Outcome.UNKNOWN):
            # clob/3005, sdk/19 (seen before: accepted or rejected), no answer: a block, or its
            # sequence moving on, will tell.
            if order.status is _S.PENDING:
                return await self._move(order, _S.UNKNOWN, "re-sent; still in a mempool", height)
            return False
        if submission.outcome is Outcome.REJECTED:
            # Refused as a re-send while it may sit in another node's mempool: looked up again
            # on the next pass (its sequence moving on, or its nonce's window closing on the
            # chain's clock, proves it was never placed).
            err = submission.error
            log.warning(
                "stateful_resend_refused",
                order_id=str(order.id),
                codespace=err and err.codespace,
                code=err and err.code,
            )
            return False
        return await self._record_rebroadcast(order, submission, height)

    async def _replace(self, order: Order, height: int, report: Any) -> bool:
        """Place the same OrderId again (its earlier tx, if any, provably never landed),
        storing each signed tx before it goes out."""
        if self.halted():
            return False
        submission = await self.exchange.replace_stateful(
            order, before_broadcast=self._store_tx(order)
        )
        report.rebroadcast += 1
        async with self.uow() as uow:
            fresh = await uow.orders.get(order.id, with_history=False)
        how = "placed again under its OrderId (its earlier tx can never be included)"
        if order.signed_tx is None:
            how = "placed under its OrderId (never broadcast before)"
        return await self._record_rebroadcast(fresh, submission, height, how=how)
