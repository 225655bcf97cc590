"""What a CheckTx refusal of a *placement* means: on a first send, and on a re-send.

A re-send is the identical bytes (or, for a stateful order, the same OrderId re-signed) sent
again after an attempt whose outcome was unknown: a lost reply, a failover to another validator,
the reconciler after a crash. On a re-send some refusals say the original got there first, so
they must never be recorded as REJECTED: the chain holds (or held) the order, it may rest or
fill, and an agent told "rejected" would place it again and double its exposure.

Meanings:

- ``FINAL``: the chain refused the order; nothing of it is on the chain (REJECTED).
- ``ALREADY_THERE``: the order (or its tx) is already with the chain: the earlier copy landed.
  Its status comes from the indexer (SUBMITTED until the indexer says more).
- ``LOOK_UP``: it may have landed; the answer cannot tell. The order is UNKNOWN and the
  reconciler finds out from the chain (GetTx for a stateful tx, the indexer, the expiry).

``PLACEMENT_ANSWERS`` below is the one table of the codes whose meaning depends on the send
(every other refusal is FINAL on both; rate limits and stale heights keep their dispositions in
``chain/errors.py``).

On a fresh OrderId (a first send) the clob codes above cannot be about an earlier copy of ours:
client ids are unique per OrderId (``store/orders.py`` ClientIds), a PENDING order cannot be
cancelled through the API, so a cancel, a resting order or a fill under that OrderId is not ours.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from dydx_router.chain.errors import ChainError, ChainRejected, ChainUnavailable, Disposition
from dydx_router.domain.order import ChainError as RecordedError
from dydx_router.observability import metrics
from dydx_router.service.ports import Outcome, Submission


class Meaning(StrEnum):
    FINAL = "final"
    ALREADY_THERE = "already_there"
    LOOK_UP = "look_up"
    RETRY = "retry"


_M = Meaning
# (codespace, code): (first send, re-send). Each row: the registered name, why, and the source.
PLACEMENT_ANSWERS: dict[tuple[str, int], tuple[Meaning, Meaning]] = {
    # ErrTxInMempoolCache: this node has seen the identical bytes (ours, sent before), accepted
    # *or rejected*: dYdX keeps invalid txs in the cache (KeepInvalidTxsInCache = true,
    # protocol/cmd/dydxprotocold/cmd/config.go; CometBFT mempool/clist_mempool.go CheckTx,
    # mapped by cosmos-sdk CheckCometError). Only the chain can tell which.
    ("sdk", 19): (_M.LOOK_UP, _M.LOOK_UP),
    # ErrWrongSequence: on a first send the sequencer re-signs the same OrderId; on a re-send of
    # stored stateful bytes the sequence may have been consumed by this very tx
    # (cosmos-sdk x/auth/ante/sigverify.go IncrementSequenceDecorator, run by v4-chain
    # protocol/app/ante.go clobAnteHandle for stateful txs).
    ("sdk", 32): (_M.RETRY, _M.LOOK_UP),
    # ErrStatefulOrderAlreadyExists: the same stateful OrderId is in state, pending or committed
    # (x/clob/keeper/orders.go PerformStatefulOrderValidation).
    ("clob", 3005): (_M.ALREADY_THERE, _M.ALREADY_THERE),
    # ErrOrderIsCanceled: a cancel of this OrderId is in the memclob; a re-sent original may
    # have landed (and filled) before it (x/clob/memclob/memclob.go validateNewOrder).
    ("clob", 7): (_M.FINAL, _M.ALREADY_THERE),
    # ErrInvalidReplacement: an order with this OrderId rests, and the identical order is no
    # valid replacement (memclob.go validateNewOrder, validateReplacement).
    ("clob", 20): (_M.FINAL, _M.ALREADY_THERE),
    # ErrOrderFullyFilled: this OrderId has less than a step left: the original filled
    # (memclob.go validateNewOrder; keeper/process_operations.go).
    ("clob", 24): (_M.FINAL, _M.ALREADY_THERE),
    # ErrImmediateExecutionOrderAlreadyFilled: an IOC of this OrderId filled in part
    # (memclob.go validateNewOrder).
    ("clob", 2004): (_M.FINAL, _M.ALREADY_THERE),
    # ErrReduceOnlyWouldIncreasePositionSize: a reduce-only original that filled in part may
    # have closed the very position it reduced (memclob.go validateNewOrder).
    ("clob", 2001): (_M.FINAL, _M.LOOK_UP),
    # ErrStatefulOrderPreviouslyCancelled / ErrStatefulOrderPreviouslyRemoved: this stateful
    # OrderId was cancelled / removed (filled, expired) in the block
    # (x/clob/keeper/msg_server_place_order.go).
    ("clob", 3008): (_M.FINAL, _M.ALREADY_THERE),
    ("clob", 3009): (_M.FINAL, _M.ALREADY_THERE),
}


def placement_answer(codespace: str, code: int, *, resend: bool) -> Meaning | None:
    """What a refusal of a placement means; None for the codes the table does not list (their
    disposition in ``chain/errors.py`` decides)."""
    row = PLACEMENT_ANSWERS.get((codespace, code))
    if row is None:
        return None
    return row[1] if resend else row[0]


_OUTCOME = {
    Meaning.ALREADY_THERE: Outcome.ALREADY_DONE,
    Meaning.LOOK_UP: Outcome.UNKNOWN,
    Meaning.FINAL: Outcome.REJECTED,
}


def _recorded(err: ChainRejected) -> RecordedError:
    return RecordedError(err.codespace, err.chain_code, err.log)


def submission_of(
    err: ChainError,
    signed: Any = None,
    *,
    placement: bool = False,
    resend: bool = False,
    cancel: bool = False,
) -> Submission:
    """The outcome a chain error means for a write (``signed``: the ``chain.tx.SignedTx`` it is
    about; ``cancel``: the write is a single cancel). A placement's refusal is read with the
    table above, as a re-send when the caller says so (the reconciler) or when an earlier attempt
    of the same call may have reached a node (``err.resent``: a lost reply, then a failover)."""
    tx_hash = signed.tx_hash if signed else getattr(err, "tx_hash", None)
    raw = signed.tx_bytes if signed else None
    if isinstance(err, ChainRejected):
        if cancel and err.disposition is Disposition.BENIGN_FOR_CANCEL:
            # For a cancel: the order is gone, or a cancel is already there (chain/errors.py).
            return Submission(Outcome.ALREADY_DONE, error=_recorded(err))
        meaning = (
            placement_answer(err.codespace, err.chain_code, resend=resend or err.resent)
            if placement
            else None
        )
        if meaning is not None and meaning in _OUTCOME:
            outcome = _OUTCOME[meaning]
        elif err.disposition is Disposition.ALREADY_SUBMITTED:
            outcome = Outcome.ALREADY_DONE
        elif err.disposition is Disposition.SEEN_BEFORE:
            outcome = Outcome.UNKNOWN  # sdk/19 to a cancel: accepted or rejected, unknown
        else:
            outcome = Outcome.REJECTED
        return Submission(
            outcome,
            tx_hash=tx_hash,
            signed_tx=raw,
            error=_recorded(err),
            retryable=err.disposition is Disposition.RETRYABLE,
        )
    if isinstance(err, ChainUnavailable):
        # The bytes may or may not have reached a node: outcome unknown, resend identically only.
        return Submission(
            Outcome.UNKNOWN,
            tx_hash=tx_hash,
            signed_tx=raw,
            error=RecordedError("router", 0, f"{err.code}: {err.message}"),
            retryable=True,
        )
    return Submission(
        Outcome.REJECTED,
        tx_hash=tx_hash,
        signed_tx=raw,
        error=RecordedError("router", 0, f"{err.code}: {err.message}"),
    )


def observe_answer(kind: str, start: float, result: Submission) -> None:
    """Broadcast latency and the CheckTx answer (code 0 = accepted; "router" = no answer)."""
    metrics.observe_broadcast(kind, time.perf_counter() - start)
    err = result.error
    if result.outcome is Outcome.ACCEPTED:
        metrics.record_checktx("", 0)
    elif result.outcome is Outcome.UNKNOWN:
        metrics.record_checktx("router", "no_answer")
    elif err is not None:
        metrics.record_checktx(err.codespace, err.code)
