"""Stateless `ValidateBasic` of the clob messages, in the chain's order of checks.

Sources: `protocol/x/clob/types/message_place_order.go`, `message_cancel_order.go`,
`message_batch_cancel.go`, `protocol/x/subaccounts/types/subaccount.go` (SubaccountId.Validate).
The detail texts are the chain's format strings, with Go's ``%+v`` rendered by `go_fmt`.
"""

from __future__ import annotations

from dydx_devnet import errors as E
from dydx_devnet.accountplus.keeper import validate_basic as accountplus_validate_basic
from dydx_devnet.genesis import MAX_BATCH_CANCEL_SIZE, MAX_SUBACCOUNT_ID_NUMBER
from dydx_devnet.model import (
    ConditionType,
    Order,
    OrderFlags,
    OrderId,
    Side,
    SubaccountId,
    TimeInForce,
)
from dydx_devnet.tx import BatchCancelMsg, CancelOrderMsg, Msg, PlaceOrderMsg, address_error

MAX_BUILDER_CODE_FEE_PPM = 10_000  # MaxBuilderCodeFeePpm, message_place_order.go
_VALID_FLAGS = frozenset(
    (OrderFlags.SHORT_TERM, OrderFlags.CONDITIONAL, OrderFlags.LONG_TERM, OrderFlags.TWAP)
)


def go_subaccount_id(s: SubaccountId) -> str:
    return f"{{Owner:{s.owner} Number:{s.number}}}"


def go_order_id(o: OrderId) -> str:
    return (
        f"{{SubaccountId:{go_subaccount_id(o.subaccount_id)} ClientId:{o.client_id} "
        f"OrderFlags:{o.order_flags} ClobPairId:{o.clob_pair_id}}}"
    )


def go_order(o: Order) -> str:
    """Go's ``%+v`` of an Order (the oneof shows as a pointer in Go; rendered by value here)."""
    gtb = (
        f"GoodTilOneof:&Order_GoodTilBlock{{GoodTilBlock:{o.good_til_block}}}"
        if o.good_til_block
        else f"GoodTilOneof:&Order_GoodTilBlockTime{{GoodTilBlockTime:{o.good_til_block_time}}}"
    )
    return (
        f"{{OrderId:{go_order_id(o.order_id)} Side:{_side_name(o.side)} Quantums:{o.quantums} "
        f"Subticks:{o.subticks} {gtb} TimeInForce:{_tif_name(o.time_in_force)} "
        f"ReduceOnly:{str(o.reduce_only).lower()} ClientMetadata:{o.client_metadata} "
        f"ConditionType:{_cond_name(o.condition_type)} "
        f"ConditionalOrderTriggerSubticks:{o.conditional_order_trigger_subticks}}}"
    )


def _side_name(v: int) -> str:
    return f"SIDE_{Side(v).name}" if v in Side._value2member_map_ else str(int(v))


def _tif_name(v: int) -> str:
    return (
        f"TIME_IN_FORCE_{TimeInForce(v).name}"
        if v in TimeInForce._value2member_map_
        else str(int(v))
    )


def _cond_name(v: int) -> str:
    return (
        f"CONDITION_TYPE_{ConditionType(v).name}"
        if v in ConditionType._value2member_map_
        else str(int(v))
    )


def validate_subaccount_id(s: SubaccountId) -> None:
    err = address_error(s.owner)
    if err is not None:
        raise E.ErrInvalidSubaccountIdOwner.wrap(
            f"invalid SubaccountId Owner address ({s.owner}). Error: ({err})"
        )
    if s.number > MAX_SUBACCOUNT_ID_NUMBER:
        raise E.ErrInvalidSubaccountIdNumber.bare()


def requires_immediate_execution(o: Order) -> bool:
    return o.time_in_force in (TimeInForce.IOC, TimeInForce.FILL_OR_KILL)


def validate_place_order(m: PlaceOrderMsg) -> None:
    o = m.order
    if o.time_in_force == TimeInForce.FILL_OR_KILL:
        raise E.ErrDeprecatedField.wrap("Fill-or-kill has been deprecated")
    validate_subaccount_id(o.order_id.subaccount_id)
    if o.side not in Side._value2member_map_:
        raise E.ErrInvalidOrderSide.wrap(f"invalid order side ({int(o.side)})")
    if o.time_in_force not in TimeInForce._value2member_map_:
        raise E.ErrInvalidTimeInForce.wrap(f"invalid time in force ({int(o.time_in_force)})")
    if o.condition_type not in ConditionType._value2member_map_:
        raise E.ErrInvalidConditionType.wrap(f"invalid condition type ({int(o.condition_type)})")
    if o.side == Side.UNSPECIFIED:
        raise E.ErrInvalidOrderSide.wrap("UNSPECIFIED is not a valid order side")
    if o.quantums == 0:
        raise E.ErrInvalidOrderQuantums.wrap("order size quantums cannot be 0")
    oid = o.order_id
    if oid.is_short_term:
        # This also rejects a short-term order that sets only good_til_block_time.
        if o.good_til_block == 0:
            raise E.ErrInvalidOrderGoodTilBlock.wrap("order goodTilBlock cannot be 0")
    elif oid.order_flags in _VALID_FLAGS:
        if o.good_til_block_time == 0:
            raise E.ErrInvalidStatefulOrderGoodTilBlockTime.wrap(
                "stateful order goodTilBlockTime cannot be 0"
            )
    else:
        raise E.ErrInvalidOrderFlag.wrap(f"invalid order flag {oid.order_flags}")
    if oid.order_flags == OrderFlags.LONG_TERM and requires_immediate_execution(o):
        raise E.ErrLongTermOrdersCannotRequireImmediateExecution.bare()
    if o.reduce_only and not requires_immediate_execution(o):
        raise E.ErrReduceOnlyDisabled.wrap("reduce only orders must be short term IOC orders")
    if o.subticks == 0 and oid.order_flags != OrderFlags.TWAP:
        raise E.ErrInvalidOrderSubticks.wrap("order subticks cannot be 0 for this order type")
    if oid.is_conditional:
        if o.condition_type == ConditionType.UNSPECIFIED:
            raise E.ErrInvalidConditionType.wrap("condition type cannot be unspecified")
        if o.conditional_order_trigger_subticks == 0:
            raise E.ErrInvalidConditionalOrderTriggerSubticks.wrap(
                "conditional order trigger subticks cannot be 0"
            )
    else:
        if o.condition_type != ConditionType.UNSPECIFIED:
            raise E.ErrInvalidConditionType.wrap(
                "condition type specified for non-conditional order"
            )
        if o.conditional_order_trigger_subticks != 0:
            raise E.ErrInvalidConditionalOrderTriggerSubticks.wrap(
                "conditional order trigger subticks greater than 0 for non-conditional order"
            )
    if m.builder_address is not None:
        err = address_error(m.builder_address)
        if err is not None:
            raise E.ErrInvalidBuilderCode.wrap(
                f"builder code address '{m.builder_address}' must be a valid bech32 address, "
                f"but got error '{err}'"
            )
        if not 0 < m.builder_fee_ppm <= MAX_BUILDER_CODE_FEE_PPM:
            raise E.ErrInvalidBuilderCode.wrap(
                f"builder code fee ppm '{m.builder_fee_ppm}' must be in the range "
                f"(0, {MAX_BUILDER_CODE_FEE_PPM}]"
            )
    if oid.order_flags == OrderFlags.TWAP and not m.has_twap_parameters:
        raise E.ErrInvalidPlaceOrder.wrap("TWAP order must have a TWAP config")


def validate_order_id(oid: OrderId) -> None:
    validate_subaccount_id(oid.subaccount_id)
    if not oid.is_short_term and oid.order_flags not in _VALID_FLAGS:
        raise E.ErrInvalidOrderFlag.wrap(f"orderId: {go_order_id(oid)}")


def validate_cancel_order(m: CancelOrderMsg) -> None:
    validate_order_id(m.order_id)
    if m.order_id.is_stateful:
        if m.good_til_block_time == 0:
            raise E.ErrInvalidStatefulOrderGoodTilBlockTime.wrap(
                f"stateful cancellation goodTilBlockTime cannot be 0, {go_order_id(m.order_id)}"
            )
    elif m.good_til_block == 0:
        raise E.ErrInvalidOrderGoodTilBlock.wrap(
            f"cancellation goodTilBlock cannot be 0, orderId {go_order_id(m.order_id)}"
        )


def validate_batch_cancel(m: BatchCancelMsg) -> None:
    validate_subaccount_id(m.subaccount_id)
    if not m.short_term_cancels:
        raise E.ErrInvalidBatchCancel.wrap("Batch cancel cannot have zero orders specified.")
    total = 0
    seen_pairs: set[int] = set()
    for batch in m.short_term_cancels:
        if batch.clob_pair_id in seen_pairs:
            raise E.ErrInvalidBatchCancel.wrap(
                "Batch cancel cannot have 2 order batches with the same clob pair id: "
                f"{batch.clob_pair_id}"
            )
        seen_pairs.add(batch.clob_pair_id)
        if not batch.client_ids:
            raise E.ErrInvalidBatchCancel.wrap("Order Batch cannot have zero client ids.")
        total += len(batch.client_ids)
        seen_ids: set[int] = set()
        for cid in batch.client_ids:
            if cid in seen_ids:
                raise E.ErrInvalidBatchCancel.wrap(
                    f"Batch Cancel Clob pair id {batch.clob_pair_id} has duplicate client ids: "
                    f"{cid}"
                )
            seen_ids.add(cid)
    if total > MAX_BATCH_CANCEL_SIZE:
        raise E.ErrInvalidBatchCancel.wrap(
            f"Batch cancel cannot have over {MAX_BATCH_CANCEL_SIZE} orders. Order count: {total}"
        )


def validate_basic(msg: Msg) -> None:
    if isinstance(msg, PlaceOrderMsg):
        validate_place_order(msg)
    elif isinstance(msg, CancelOrderMsg):
        validate_cancel_order(msg)
    elif isinstance(msg, BatchCancelMsg):
        validate_batch_cancel(msg)
    else:
        accountplus_validate_basic(msg)


def is_short_term_msg(msg: Msg) -> bool:
    if isinstance(msg, PlaceOrderMsg):
        return msg.order.order_id.is_short_term
    if isinstance(msg, CancelOrderMsg):
        return msg.order_id.is_short_term
    return isinstance(msg, BatchCancelMsg)  # MsgBatchCancel cancels short-term orders only
