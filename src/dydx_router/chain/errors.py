"""Errors of the dYdX adapters, translated at the boundary.

Nothing above ``chain/`` sees ``grpc.aio.AioRpcError``, ``httpx.HTTPError`` or a raw CheckTx code:
the node and indexer clients raise only the classes below (``raise … from e``).

A CheckTx failure is keyed by ``(codespace, code)``: ``("sdk", 32)`` is an account-sequence
mismatch while ``("clob", 32)`` is "a stateful cancel already exists" — different things that
only look alike by number. Each rejection carries a :class:`Disposition` telling the caller what
it may do next; a write whose outcome is unknown (:class:`ChainTimeout`) may only be resent with
the same bytes or the same persisted ``OrderId``, never with new identifiers.

Sources: dydxprotocol/v4-chain ``protocol/x/clob/types/errors.go`` (clob codes; the tests check
against its registry in ``tests/fixtures/data/clob_errors.json``, see
``scripts/upstream_fixtures.py``), cosmos-sdk ``types/errors/errors.go`` (sdk codes),
v4-chain ``protocol/app/ante.go`` (clobAnteHandle), ``protocol/app/ante/replay_protection.go`` and
``protocol/x/clob/keeper/orders.go``, and cosmos-sdk ``client/broadcast.go`` (CheckCometError).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any


class Disposition(StrEnum):
    #: The chain refused and will refuse again: report it, do not resend.
    DEFINITIVE = "definitive"
    #: Transient: the same order (same OrderId) may be resent, after the stated remedy
    #: (resync the sequence, take a fresh height, wait for the next block).
    RETRYABLE = "retryable"
    #: A refusal that, for a cancel, means its goal is already reached (the order is gone or a
    #: cancel is already pending). For a placement it is definitive.
    BENIGN_FOR_CANCEL = "benign_for_cancel"
    #: The identical tx or order is already with the chain: the earlier submission stands.
    ALREADY_SUBMITTED = "already_submitted"
    #: The node has seen these exact bytes before and did not run CheckTx again (sdk/19). dYdX
    #: validators keep *rejected* txs in that cache too (``KeepInvalidTxsInCache = true``,
    #: protocol/cmd/dydxprotocold/cmd/config.go; CometBFT mempool/clist_mempool.go), so it says
    #: nothing about whether the earlier copy was accepted: the outcome is unknown.
    SEEN_BEFORE = "seen_before"


class ChainError(Exception):
    """Base of everything the dYdX adapters raise."""

    code: str = "chain_error"
    disposition: Disposition = Disposition.DEFINITIVE
    #: The signed tx (``chain.tx.SignedTx``) this error is about, when the sequencer signed it
    #: here: for an unknown outcome it is what may be checked (GetTx) or re-sent identically.
    signed: Any = None
    #: An earlier attempt of the same call (the identical bytes, or the same OrderId re-signed)
    #: may have reached a node: this answer is to a re-send (``chain/answers.py``).
    resent: bool = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        return self.message

    @property
    def retryable(self) -> bool:
        return self.disposition is Disposition.RETRYABLE


class InvalidMnemonic(ChainError):
    """The configured mnemonic is malformed. The message never contains it."""

    code = "invalid_mnemonic"


class InvalidTxInput(ChainError):
    """A builder argument the chain would refuse in ValidateBasic, caught before signing."""

    code = "invalid_tx_input"


class GoodTilBlockOutOfWindow(ChainError):
    """A short-term good-til-block outside [H+1, H+1+ShortBlockWindow], caught before sending."""

    code = "good_til_block_out_of_window"
    disposition = Disposition.RETRYABLE


class HeightUnknown(ChainError):
    """No fresh block height is known yet, so no good-til-block can be computed."""

    code = "height_unknown"
    disposition = Disposition.RETRYABLE


class PriceStale(ChainError):
    """The oracle price was last read from the node longer ago than allowed: a market order's
    worst price or a risk limit would rest on a price the market may have left."""

    code = "price_stale"
    disposition = Disposition.RETRYABLE


# --- transport ------------------------------------------------------------------------------


class ChainUnavailable(ChainError):
    """No endpoint answered (connection refused, TLS failure, UNAVAILABLE, overloaded)."""

    code = "chain_unavailable"
    disposition = Disposition.RETRYABLE


class ChainTimeout(ChainUnavailable):
    """A deadline expired. For a broadcast the outcome is unknown: resend the same bytes only."""

    code = "chain_timeout"


class ChainQueryFailed(ChainError):
    """The node answered a query with an error status that is not a transport failure."""

    code = "chain_query_failed"


class AccountNotFound(ChainError):
    """The address has no on-chain account: it must receive funds before it can sign a tx."""

    code = "account_not_found"

    def __init__(self, address: str) -> None:
        super().__init__(
            f"account {address} does not exist on chain; it must be funded (receive a transfer "
            "or deposit) before it can place orders",
            address=address,
        )
        self.address = address


class TxNotFound(ChainError):
    """GetTx found no tx with this hash (short-term clob txs never appear in blocks)."""

    code = "tx_not_found"


# --- CheckTx rejections ---------------------------------------------------------------------


class ChainRejected(ChainError):
    """CheckTx (or DeliverTx) returned a non-zero code."""

    code = "chain_rejected"

    def __init__(
        self,
        codespace: str,
        chain_code: int,
        log: str,
        *,
        name: str,
        disposition: Disposition,
        tx_hash: str | None = None,
    ) -> None:
        super().__init__(
            f"chain rejected the tx: {codespace}/{chain_code} {name}: {log}",
            codespace=codespace,
            chain_code=chain_code,
            name=name,
            tx_hash=tx_hash,
        )
        self.codespace = codespace
        self.chain_code = chain_code
        self.log = log
        self.name = name
        self.disposition = disposition
        self.tx_hash = tx_hash

    @property
    def key(self) -> tuple[str, int]:
        return (self.codespace, self.chain_code)


class _WrongSequence(ChainRejected):
    """sdk/32 (cosmos-sdk ErrWrongSequence): retryable once the sequence or nonce is fixed."""

    def __init__(self, log: str, *, tx_hash: str | None = None) -> None:
        super().__init__(
            "sdk",
            32,
            log,
            name="ErrWrongSequence",
            disposition=Disposition.RETRYABLE,
            tx_hash=tx_hash,
        )


class SequenceMismatch(_WrongSequence):
    """sdk/32 "account sequence mismatch": resync the sequence from the node and resend."""

    code = "sequence_mismatch"

    def __init__(self, log: str, *, tx_hash: str | None = None) -> None:
        super().__init__(log, tx_hash=tx_hash)
        match = _SEQUENCE_RE.search(log)
        self.expected: int | None = int(match["expected"]) if match else None
        self.got: int | None = int(match["got"]) if match else None


class TimestampNonceRejected(_WrongSequence):
    """sdk/32 for a timestamp nonce (x/accountplus): outside ±30 s, not fresh, or not unique."""

    code = "timestamp_nonce_rejected"


class RateLimited(ChainRejected):
    """clob/5001: the per-address block rate limit; wait for the next blocks."""

    code = "rate_limited"


class AuthenticatorRefused(ChainRejected):
    """dydxaccountplus/*: the permissioned key's authenticator refused the message (a market,
    subaccount or message type outside its filters, a wrong key, or a removed authenticator).
    The log starts with which filter refused; the chain's own log follows unchanged."""

    code = "authenticator_refused"


# The innermost registered message in an x/accountplus log names what refused
# (protocol/x/accountplus/types/errors.go; AllOf/AnyOf wrap their sub-authenticator's text).
_AUTHENTICATOR_REASONS = (
    ("Authenticator is not found", "the authenticator does not exist (revoked, or wrong id)"),
    ("Signature verification failed", "SignatureVerification: not signed by the granted key"),
    ("Message type verification failed", "MessageFilter: this message type is not allowed"),
    ("Subaccount verification failed", "SubaccountFilter: this subaccount is not allowed"),
    ("Clob pair id verification failed", "ClobPairIdFilter: this market is not allowed"),
    ("Smart account is not active", "smart accounts are disabled on this chain"),
)


def authenticator_reason(log: str) -> str:
    for needle, reason in _AUTHENTICATOR_REASONS:
        if needle in log:
            return reason
    return "refused by the authenticator"


# cosmos-sdk ante: "account sequence mismatch, expected 5, got 3: incorrect account sequence"
_SEQUENCE_RE = re.compile(r"expected (?P<expected>\d+), got (?P<got>\d+)")

_D = Disposition
# (codespace, code) -> (registered error name, disposition). Codes missing here are definitive.
_KNOWN: dict[tuple[str, int], tuple[str, Disposition]] = {
    # cosmos-sdk types/errors/errors.go
    ("sdk", 2): ("ErrTxDecode", _D.DEFINITIVE),
    ("sdk", 4): ("ErrUnauthorized", _D.DEFINITIVE),  # signature, chain id or account number
    ("sdk", 5): ("ErrInsufficientFunds", _D.DEFINITIVE),
    ("sdk", 8): ("ErrInvalidPubKey", _D.DEFINITIVE),
    ("sdk", 11): ("ErrOutOfGas", _D.DEFINITIVE),
    ("sdk", 13): ("ErrInsufficientFee", _D.DEFINITIVE),
    ("sdk", 18): ("ErrInvalidRequest", _D.DEFINITIVE),
    ("sdk", 19): ("ErrTxInMempoolCache", _D.SEEN_BEFORE),
    ("sdk", 20): ("ErrMempoolIsFull", _D.RETRYABLE),
    ("sdk", 21): ("ErrTxTooLarge", _D.DEFINITIVE),
    ("sdk", 32): ("ErrWrongSequence", _D.RETRYABLE),
    # protocol/x/clob/types/errors.go
    ("clob", 2): ("ErrMemClobOrderDoesNotExist", _D.BENIGN_FOR_CANCEL),
    ("clob", 3): ("ErrInvalidOrderSide", _D.DEFINITIVE),
    ("clob", 4): ("ErrInvalidOrderQuantums", _D.DEFINITIVE),
    ("clob", 5): ("ErrInvalidOrderGoodTilBlock", _D.DEFINITIVE),
    ("clob", 6): ("ErrInvalidOrderSubticks", _D.DEFINITIVE),
    ("clob", 7): ("ErrOrderIsCanceled", _D.DEFINITIVE),
    ("clob", 8): ("ErrInvalidClob", _D.DEFINITIVE),
    ("clob", 9): ("ErrMemClobCancelAlreadyExists", _D.BENIGN_FOR_CANCEL),
    # GTB already passed / too far ahead: retry the same OrderId with a GTB from a fresh height.
    ("clob", 10): ("ErrHeightExceedsGoodTilBlock", _D.RETRYABLE),
    ("clob", 11): ("ErrGoodTilBlockExceedsShortBlockWindow", _D.RETRYABLE),
    ("clob", 12): ("ErrInvalidPlaceOrder", _D.DEFINITIVE),
    ("clob", 20): ("ErrInvalidReplacement", _D.DEFINITIVE),
    ("clob", 24): ("ErrOrderFullyFilled", _D.BENIGN_FOR_CANCEL),
    ("clob", 29): ("ErrInvalidStatefulOrderCancellation", _D.DEFINITIVE),
    ("clob", 30): ("ErrOrderReprocessed", _D.ALREADY_SUBMITTED),
    ("clob", 32): ("ErrStatefulOrderCancellationAlreadyExists", _D.BENIGN_FOR_CANCEL),
    ("clob", 34): ("ErrOrderConflictsWithClobPairStatus", _D.DEFINITIVE),
    ("clob", 44): ("ErrInvalidTimeInForce", _D.DEFINITIVE),
    ("clob", 45): ("ErrInvalidBatchCancel", _D.DEFINITIVE),
    ("clob", 46): ("ErrBatchCancelFailed", _D.DEFINITIVE),
    ("clob", 47): ("ErrClobNotInitialized", _D.RETRYABLE),
    ("clob", 48): ("ErrDeprecatedField", _D.DEFINITIVE),
    ("clob", 49): ("ErrInvalidTwapOrderPlacement", _D.DEFINITIVE),
    ("clob", 50): ("ErrInvalidBuilderCode", _D.DEFINITIVE),
    ("clob", 2000): ("ErrFokOrderCouldNotBeFullyFilled", _D.DEFINITIVE),
    ("clob", 2001): ("ErrReduceOnlyWouldIncreasePositionSize", _D.DEFINITIVE),
    ("clob", 2002): ("ErrReduceOnlyWouldChangePositionSide", _D.DEFINITIVE),
    ("clob", 2003): ("ErrPostOnlyWouldCrossMakerOrder", _D.DEFINITIVE),
    ("clob", 2004): ("ErrImmediateExecutionOrderAlreadyFilled", _D.DEFINITIVE),
    ("clob", 2005): ("ErrWouldViolateIsolatedSubaccountConstraints", _D.DEFINITIVE),
    ("clob", 3000): ("ErrInvalidOrderFlag", _D.DEFINITIVE),
    ("clob", 3001): ("ErrInvalidStatefulOrderGoodTilBlockTime", _D.DEFINITIVE),
    ("clob", 3002): ("ErrLongTermOrdersCannotRequireImmediateExecution", _D.DEFINITIVE),
    ("clob", 3003): ("ErrTimeExceedsGoodTilBlockTime", _D.DEFINITIVE),
    ("clob", 3004): ("ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow", _D.DEFINITIVE),
    # Re-placing a stateful order that is already in state: our earlier placement landed.
    ("clob", 3005): ("ErrStatefulOrderAlreadyExists", _D.ALREADY_SUBMITTED),
    ("clob", 3006): ("ErrStatefulOrderDoesNotExist", _D.BENIGN_FOR_CANCEL),
    ("clob", 3007): ("ErrStatefulOrderCollateralizationCheckFailed", _D.DEFINITIVE),
    ("clob", 3008): ("ErrStatefulOrderPreviouslyCancelled", _D.DEFINITIVE),
    ("clob", 3009): ("ErrStatefulOrderPreviouslyRemoved", _D.DEFINITIVE),
    ("clob", 3010): (
        "ErrStatefulOrderCancellationFailedForAlreadyRemovedOrder",
        _D.BENIGN_FOR_CANCEL,
    ),
    ("clob", 5001): ("ErrBlockRateLimitExceeded", _D.RETRYABLE),
    ("clob", 6000): ("ErrInvalidConditionType", _D.DEFINITIVE),
    ("clob", 6001): ("ErrInvalidConditionalOrderTriggerSubticks", _D.DEFINITIVE),
    ("clob", 9003): ("ErrReduceOnlyDisabled", _D.DEFINITIVE),
    ("clob", 10001): ("ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit", _D.DEFINITIVE),
    ("clob", 11000): ("ErrInvalidOrderRouterAddress", _D.DEFINITIVE),
    # protocol/x/subaccounts/types/errors.go
    ("subaccounts", 200): ("ErrInvalidSubaccountIdNumber", _D.DEFINITIVE),
    ("subaccounts", 201): ("ErrInvalidSubaccountIdOwner", _D.DEFINITIVE),
    # protocol/x/accountplus/types/errors.go
    ("dydxaccountplus", 1): ("ErrAuthenticatorNotFound", _D.DEFINITIVE),
    ("dydxaccountplus", 2): ("ErrInvalidAccountAddress", _D.DEFINITIVE),
    ("dydxaccountplus", 3): ("ErrAuthenticatorDataExceedsMaximumLength", _D.DEFINITIVE),
    ("dydxaccountplus", 4): ("ErrSmartAccountNotActive", _D.DEFINITIVE),
    ("dydxaccountplus", 5): ("ErrInitializingAuthenticator", _D.DEFINITIVE),
    ("dydxaccountplus", 6): ("ErrTxnHasMultipleSigners", _D.DEFINITIVE),
    ("dydxaccountplus", 100): ("ErrSignatureVerification", _D.DEFINITIVE),
    ("dydxaccountplus", 101): ("ErrMessageTypeVerification", _D.DEFINITIVE),
    ("dydxaccountplus", 102): ("ErrClobPairIdVerification", _D.DEFINITIVE),
    ("dydxaccountplus", 103): ("ErrSubaccountVerification", _D.DEFINITIVE),
    ("dydxaccountplus", 104): ("ErrAllOfVerification", _D.DEFINITIVE),
    ("dydxaccountplus", 105): ("ErrAnyOfVerification", _D.DEFINITIVE),
}


def classify(codespace: str, code: int) -> tuple[str, Disposition]:
    """The registered name and the disposition of a CheckTx error (definitive if unknown)."""
    return _KNOWN.get((codespace, code), (f"{codespace}/{code}", Disposition.DEFINITIVE))


def rejection(codespace: str, code: int, log: str, *, tx_hash: str | None = None) -> ChainRejected:
    """The typed error for a non-zero CheckTx result."""
    if (codespace, code) == ("sdk", 32):
        if "timestamp nonce" in log:
            return TimestampNonceRejected(log, tx_hash=tx_hash)
        return SequenceMismatch(log, tx_hash=tx_hash)
    name, disposition = classify(codespace, code)
    if codespace == "dydxaccountplus":
        log = f"permissioned key refused: {authenticator_reason(log)}: {log}"
        return AuthenticatorRefused(
            codespace, code, log, name=name, disposition=disposition, tx_hash=tx_hash
        )
    cls = RateLimited if (codespace, code) == ("clob", 5001) else ChainRejected
    return cls(codespace, code, log, name=name, disposition=disposition, tx_hash=tx_hash)


# --- indexer --------------------------------------------------------------------------------


class IndexerError(ChainError):
    code = "indexer_error"


class IndexerUnavailable(IndexerError):
    """No indexer endpoint answered, or it answered 5xx/429, or timed out."""

    code = "indexer_unavailable"
    disposition = Disposition.RETRYABLE


class IndexerNotFound(IndexerError):
    code = "indexer_not_found"


class IndexerBadRequest(IndexerError):
    code = "indexer_bad_request"


class IndexerResponseInvalid(IndexerError):
    """The indexer answered with a payload that does not have the documented shape."""

    code = "indexer_response_invalid"


class StreamClosed(IndexerError):
    """The websocket stream was closed by the caller."""

    code = "stream_closed"
