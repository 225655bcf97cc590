"""Registered chain errors, and the exception CheckTx raises with them.

A Cosmos error is (codespace, code, registered message). Wrapping it with a detail gives the
raw_log the chain returns: ``"<detail>: <registered message>"`` (`cosmossdk.io/errors` Wrap);
an unwrapped error's raw_log is the registered message alone.

Codes and messages: `protocol/x/clob/types/errors.go`, `protocol/x/subaccounts/types/errors.go`,
`cosmos-sdk/types/errors/errors.go`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Registered:
    codespace: str
    code: int
    message: str

    def wrap(self, detail: str) -> TxError:
        return TxError(self, detail)

    def bare(self) -> TxError:
        return TxError(self, "")


class TxError(Exception):
    """A CheckTx rejection: what BroadcastTx reports as (codespace, code, raw_log)."""

    def __init__(self, error: Registered, detail: str = "") -> None:
        self.error = error
        self.detail = detail
        super().__init__(self.raw_log)

    @property
    def codespace(self) -> str:
        return self.error.codespace

    @property
    def code(self) -> int:
        return self.error.code

    @property
    def raw_log(self) -> str:
        if self.detail:
            return f"{self.detail}: {self.error.message}"
        return self.error.message


def _sdk(code: int, message: str) -> Registered:
    return Registered("sdk", code, message)


def _clob(code: int, message: str) -> Registered:
    return Registered("clob", code, message)


# cosmos-sdk types/errors/errors.go
ErrTxDecode = _sdk(2, "tx parse error")
ErrUnauthorized = _sdk(4, "unauthorized")
ErrInvalidPubKey = _sdk(8, "invalid pubkey")
ErrUnknownAddress = _sdk(9, "unknown address")
ErrMemoTooLarge = _sdk(12, "memo too large")
ErrNoSignatures = _sdk(15, "no signatures supplied")
ErrInvalidRequest = _sdk(18, "invalid request")
ErrTxInMempoolCache = _sdk(19, "tx already in mempool")
ErrTooManySignatures = _sdk(24, "maximum number of signatures exceeded")
ErrTxTimeoutHeight = _sdk(30, "tx timeout height")
ErrWrongSequence = _sdk(32, "incorrect account sequence")

# protocol/x/subaccounts/types/errors.go
ErrInvalidSubaccountIdNumber = Registered(
    "subaccounts", 200, "subaccount id number cannot exceed 128000"
)
ErrInvalidSubaccountIdOwner = Registered(
    "subaccounts", 201, "subaccount id owner is an invalid address"
)

# protocol/x/clob/types/errors.go
ErrInvalidOrderSide = _clob(3, "Invalid order side")
ErrInvalidOrderQuantums = _clob(4, "Invalid order quantums")
ErrInvalidOrderGoodTilBlock = _clob(5, "Invalid order goodTilBlock")
ErrInvalidOrderSubticks = _clob(6, "Invalid order subticks")
ErrOrderIsCanceled = _clob(7, "Attempt to place an order that is already canceled")
ErrInvalidClob = _clob(8, "ClobPair ID does not reference a valid CLOB")
ErrMemClobCancelAlreadyExists = _clob(
    9,
    "A cancel already exists in the memclob for this order with a greater than or equal "
    "GoodTilBlock",
)
ErrHeightExceedsGoodTilBlock = _clob(
    10, "The next block height is greater than the GoodTilBlock of the message"
)
ErrGoodTilBlockExceedsShortBlockWindow = _clob(
    11, "The GoodTilBlock of the message is further than ShortBlockWindow blocks into the future"
)
ErrInvalidPlaceOrder = _clob(12, "MsgPlaceOrder is invalid")
ErrInvalidReplacement = _clob(20, "Replacing an existing order failed")
ErrOrderFullyFilled = _clob(24, "Order is fully filled")
ErrInvalidClobPairParameter = _clob(27, "Invalid ClobPair parameter")
ErrInvalidStatefulOrderCancellation = _clob(29, "Invalid stateful order cancellation")
ErrStatefulOrderCancellationAlreadyExists = _clob(
    32, "Existing stateful order cancellation has higher-or-equal priority than the new one"
)
ErrOrderConflictsWithClobPairStatus = _clob(34, "Order conflicts with ClobPair status")
ErrInvalidTimeInForce = _clob(44, "invalid time in force")
ErrInvalidBatchCancel = _clob(45, "Invalid batch cancel message")
ErrBatchCancelFailed = _clob(46, "Batch cancel has failed")
ErrDeprecatedField = _clob(48, "This field has been deprecated")
ErrInvalidBuilderCode = _clob(50, "Invalid builder code")
ErrReduceOnlyWouldIncreasePositionSize = _clob(
    2001, "Reduce-only orders cannot increase the position size"
)
ErrPostOnlyWouldCrossMakerOrder = _clob(
    2003, "Post-only order would cross one or more maker orders"
)
ErrImmediateExecutionOrderAlreadyFilled = _clob(
    2004, "IOC order is already filled, remaining size is cancelled."
)
ErrInvalidOrderFlag = _clob(3000, "Invalid order flags")
ErrInvalidStatefulOrderGoodTilBlockTime = _clob(3001, "Invalid order goodTilBlockTime")
ErrLongTermOrdersCannotRequireImmediateExecution = _clob(
    3002, "Stateful orders cannot require immediate execution"
)
ErrTimeExceedsGoodTilBlockTime = _clob(
    3003, "The block time is greater than the GoodTilBlockTime of the message"
)
ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow = _clob(
    3004,
    "The GoodTilBlockTime of the message is further than StatefulOrderTimeWindow into the future",
)
ErrStatefulOrderAlreadyExists = _clob(
    3005, "Existing stateful order has higher-or-equal priority than the new one"
)
ErrStatefulOrderDoesNotExist = _clob(3006, "Stateful order does not exist")
ErrStatefulOrderCollateralizationCheckFailed = _clob(
    3007, "Stateful order collateralization check failed"
)
ErrStatefulOrderPreviouslyCancelled = _clob(
    3008, "Stateful order was previously cancelled and therefore cannot be placed"
)
ErrBlockRateLimitExceeded = _clob(5001, "Block rate limit exceeded")
ErrInvalidConditionType = _clob(6000, "Conditional type is invalid")
ErrInvalidConditionalOrderTriggerSubticks = _clob(
    6001, "Conditional order trigger subticks is invalid"
)
ErrReduceOnlyDisabled = _clob(9003, "Reduce-only is currently disabled for non-IOC orders")
ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit = _clob(
    10001, "Subaccount cannot open more orders due to equity tier limit."
)
