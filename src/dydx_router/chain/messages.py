"""Pure builders of the dYdX clob messages (``MsgPlaceOrder``, ``MsgCancelOrder``,
``MsgBatchCancel``) with the chain's stateless checks (``ValidateBasic`` in
``protocol/x/clob/types/message_*.go``); `chain/tx.py` signs them into transactions and
re-exports them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from v4_proto.dydxprotocol.clob.order_pb2 import Order, OrderId
from v4_proto.dydxprotocol.clob.tx_pb2 import (
    MsgBatchCancel,
    MsgCancelOrder,
    MsgPlaceOrder,
    OrderBatch,
)
from v4_proto.dydxprotocol.subaccounts.subaccount_pb2 import SubaccountId

from dydx_router.chain.authenticators import selected_authenticators as selected_authenticators
from dydx_router.chain.errors import InvalidTxInput
from dydx_router.domain.market import UINT32_MAX, UINT64_MAX, Side

# The enums are the domain's (the order planner decides them); re-exported for callers.
from dydx_router.domain.order import OrderFlags as OrderFlags
from dydx_router.domain.planning import ChainTimeInForce as TimeInForce
from dydx_router.domain.planning import ConditionType as ConditionType

# protocol/x/subaccounts/types/subaccount.go MaxSubaccountIdNumber.
MAX_SUBACCOUNT_NUMBER = 128_000
# protocol/x/clob/types/constants.go MaxMsgBatchCancelBatchSize.
MAX_BATCH_CANCELS = 100
_SIDES = {Side.BUY: Order.Side.SIDE_BUY, Side.SELL: Order.Side.SIDE_SELL}


@dataclass(frozen=True, slots=True)
class ChainOrderId:
    """The chain's identity of an order (``OrderId``): unique per subaccount and market."""

    owner: str
    subaccount_number: int
    client_id: int
    clob_pair_id: int
    order_flags: OrderFlags

    @property
    def is_short_term(self) -> bool:
        return self.order_flags is OrderFlags.SHORT_TERM

    def to_proto(self) -> Any:
        return OrderId(
            subaccount_id=SubaccountId(owner=self.owner, number=self.subaccount_number),
            client_id=self.client_id,
            order_flags=int(self.order_flags),
            clob_pair_id=self.clob_pair_id,
        )


def _fail(message: str, **details: Any) -> InvalidTxInput:
    return InvalidTxInput(message, **details)


def _check_order_id(oid: ChainOrderId) -> None:
    if not oid.owner:
        raise _fail("order owner address is empty")
    if not 0 <= oid.subaccount_number <= MAX_SUBACCOUNT_NUMBER:
        raise _fail(f"subaccount number must be in 0..{MAX_SUBACCOUNT_NUMBER}")
    if not 0 <= oid.client_id <= UINT32_MAX:
        raise _fail("client_id must be a uint32")
    if not 0 <= oid.clob_pair_id <= UINT32_MAX:
        raise _fail("clob_pair_id must be a uint32")


def place_order(
    order_id: ChainOrderId,
    *,
    side: Side,
    quantums: int,
    subticks: int,
    time_in_force: TimeInForce = TimeInForce.UNSPECIFIED,
    good_til_block: int | None = None,
    good_til_block_time: int | None = None,
    reduce_only: bool = False,
    client_metadata: int = 0,
    condition_type: ConditionType = ConditionType.UNSPECIFIED,
    conditional_order_trigger_subticks: int = 0,
    order_router_address: str = "",
    validate: bool = True,
) -> Any:
    """``MsgPlaceOrder``. Short-term orders take ``good_til_block``; stateful ones take
    ``good_til_block_time`` (unix seconds)."""
    if validate:
        _check_place(
            order_id,
            quantums=quantums,
            subticks=subticks,
            time_in_force=time_in_force,
            good_til_block=good_til_block,
            good_til_block_time=good_til_block_time,
            reduce_only=reduce_only,
            client_metadata=client_metadata,
            condition_type=condition_type,
            trigger=conditional_order_trigger_subticks,
        )
    order = Order(
        order_id=order_id.to_proto(),
        side=_SIDES[side],
        quantums=quantums,
        subticks=subticks,
        time_in_force=int(time_in_force),
        reduce_only=reduce_only,
        client_metadata=client_metadata,
        condition_type=int(condition_type),
        conditional_order_trigger_subticks=conditional_order_trigger_subticks,
        order_router_address=order_router_address,
    )
    # good_til_block / good_til_block_time are a oneof: a member set to 0 is still encoded, so
    # only the member actually given is set (the official client passes None for the other).
    if good_til_block is not None:
        order.good_til_block = good_til_block
    if good_til_block_time is not None:
        order.good_til_block_time = good_til_block_time
    return MsgPlaceOrder(order=order)


def _check_place(
    oid: ChainOrderId,
    *,
    quantums: int,
    subticks: int,
    time_in_force: TimeInForce,
    good_til_block: int | None,
    good_til_block_time: int | None,
    reduce_only: bool,
    client_metadata: int,
    condition_type: ConditionType,
    trigger: int,
) -> None:
    # Same order as MsgPlaceOrder.ValidateBasic (protocol/x/clob/types/message_place_order.go).
    _check_order_id(oid)
    if not 0 < quantums <= UINT64_MAX:
        raise _fail("quantums must be a positive uint64 (clob/4)")
    if oid.is_short_term:
        if not good_til_block or good_til_block_time is not None:
            raise _fail("a short-term order needs good_til_block and no good_til_block_time")
    elif not good_til_block_time or good_til_block is not None:
        raise _fail("a stateful order needs good_til_block_time and no good_til_block")
    if good_til_block is not None and not 0 < good_til_block <= UINT32_MAX:
        raise _fail("good_til_block must be a positive uint32")
    if good_til_block_time is not None and not 0 < good_til_block_time <= UINT32_MAX:
        raise _fail("good_til_block_time must be positive unix seconds (fixed32)")
    if oid.order_flags is OrderFlags.LONG_TERM and time_in_force is TimeInForce.IOC:
        raise _fail("a long-term order cannot be IOC (clob/3002)")
    if reduce_only and time_in_force is not TimeInForce.IOC:
        raise _fail("reduce-only orders must be IOC (clob/9003)")
    if not 0 < subticks <= UINT64_MAX:
        raise _fail("subticks must be a positive uint64 (clob/6)")
    if not 0 <= client_metadata <= UINT32_MAX:
        raise _fail("client_metadata must be a uint32")
    if oid.order_flags is OrderFlags.CONDITIONAL:
        if condition_type is ConditionType.UNSPECIFIED:
            raise _fail("a conditional order needs a condition type (clob/6000)")
        if not 0 < trigger <= UINT64_MAX:
            raise _fail("a conditional order needs trigger subticks (clob/6001)")
    elif condition_type is not ConditionType.UNSPECIFIED or trigger:
        raise _fail("only conditional orders take a condition type and trigger (clob/6000)")


def cancel_order(
    order_id: ChainOrderId,
    *,
    good_til_block: int | None = None,
    good_til_block_time: int | None = None,
    validate: bool = True,
) -> Any:
    """``MsgCancelOrder``: short-term cancels take ``good_til_block``, stateful ones
    ``good_til_block_time`` (which must be >= the order's; clob/29)."""
    if validate:
        _check_order_id(order_id)
        if order_id.is_short_term:
            if not good_til_block or good_til_block_time is not None:
                raise _fail("a short-term cancel needs good_til_block (clob/5)")
        elif not good_til_block_time or good_til_block is not None:
            raise _fail("a stateful cancel needs good_til_block_time (clob/3001)")
    msg = MsgCancelOrder(order_id=order_id.to_proto())
    if good_til_block is not None:
        msg.good_til_block = good_til_block
    if good_til_block_time is not None:
        msg.good_til_block_time = good_til_block_time
    return msg


def batch_cancel(
    owner: str,
    subaccount_number: int,
    client_ids_by_clob_pair: Mapping[int, Iterable[int]],
    *,
    good_til_block: int,
    validate: bool = True,
) -> Any:
    """``MsgBatchCancel`` of short-term orders, one ``OrderBatch`` per market in mapping order."""
    batches = [(clob, list(ids)) for clob, ids in client_ids_by_clob_pair.items()]
    if validate:
        if not owner or not 0 <= subaccount_number <= MAX_SUBACCOUNT_NUMBER:
            raise _fail("invalid subaccount for batch cancel")
        if not batches or any(not ids for _, ids in batches):
            raise _fail("a batch cancel needs at least one client id per market (clob/45)")
        if any(len(set(ids)) != len(ids) for _, ids in batches):
            raise _fail("duplicate client ids in a batch cancel (clob/45)")
        if sum(len(ids) for _, ids in batches) > MAX_BATCH_CANCELS:
            raise _fail(f"a batch cancel holds at most {MAX_BATCH_CANCELS} orders (clob/45)")
        if not 0 < good_til_block <= UINT32_MAX:
            raise _fail("a batch cancel needs good_til_block (clob/5)")
    return MsgBatchCancel(
        subaccount_id=SubaccountId(owner=owner, number=subaccount_number),
        short_term_cancels=[OrderBatch(clob_pair_id=c, client_ids=ids) for c, ids in batches],
        good_til_block=good_til_block,
    )


def is_short_term_message(msg: Any) -> bool:
    """True for the messages the chain lets skip sequence checks (protocol/app/ante/util.go)."""
    if isinstance(msg, MsgBatchCancel):
        return True
    if isinstance(msg, MsgPlaceOrder):
        return int(msg.order.order_id.order_flags) == OrderFlags.SHORT_TERM
    if isinstance(msg, MsgCancelOrder):
        return int(msg.order_id.order_flags) == OrderFlags.SHORT_TERM
    return False
