"""Request and response bodies of the HTTP API.

Strict on the way in: unknown fields are refused, enums are exact, and decimals must be JSON strings
(never floats) with bounded precision and magnitude. Decimals go out as strings too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from dydx_router.api.fields import (
    ClientOrderId,
    DecimalOut,
    PositiveDecimal,
    Reason,
    SlippageBps,
    SubaccountNumber,
    Ticker,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import Order, OrderStatus, OrderType, TimeInForce
from dydx_router.domain.planning import OrderRequest
from dydx_router.domain.windows import SHORT_BLOCK_WINDOW
from dydx_router.service.cancels import CancelReport
from dydx_router.service.ports import AccountSnapshot, MarketView


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class PlaceOrderBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"},
                {
                    "market": "ETH-USD",
                    "side": "SELL",
                    "type": "LIMIT",
                    "size": "0.5",
                    "price": "4100.5",
                    "time_in_force": "POST_ONLY",
                    "good_til_seconds": 3600,
                },
            ]
        },
    )

    market: Ticker
    side: Side
    type: OrderType
    size: PositiveDecimal
    price: PositiveDecimal | None = None
    trigger_price: PositiveDecimal | None = None
    time_in_force: TimeInForce | None = None
    good_til_seconds: Annotated[int, Field(ge=1, le=95 * 24 * 3600)] | None = None
    good_til_blocks: Annotated[int, Field(ge=1, le=SHORT_BLOCK_WINDOW)] | None = None
    reduce_only: bool = False
    post_only: bool = False
    max_slippage_bps: SlippageBps | None = None
    client_order_id: ClientOrderId | None = None
    subaccount: SubaccountNumber | None = None
    reason: Reason | None = None

    def to_request(self) -> OrderRequest:
        return OrderRequest(
            market=self.market,
            side=self.side,
            type=self.type,
            size=self.size,
            price=self.price,
            trigger_price=self.trigger_price,
            time_in_force=self.time_in_force,
            good_til_seconds=self.good_til_seconds,
            good_til_blocks=self.good_til_blocks,
            reduce_only=self.reduce_only,
            post_only=self.post_only,
            max_slippage_bps=self.max_slippage_bps,
        )


class CancelOrdersBody(Strict):
    """Either ``ids``, or ``market`` (cancel every open order there), or ``all: true``."""

    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)] | None = None
    market: Ticker | None = None
    all: bool = False
    reason: Reason | None = None


class ClosePositionBody(Strict):
    size: PositiveDecimal | None = None
    max_slippage_bps: SlippageBps | None = None
    subaccount: SubaccountNumber | None = None
    client_order_id: ClientOrderId | None = None
    reason: Reason | None = None


class StatusChangeOut(BaseModel):
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str
    chain_height: int | None
    at: datetime


class ChainIdsOut(BaseModel):
    client_id: int
    order_flags: int
    clob_pair_id: int
    owner: str
    subaccount_number: int
    good_til_block: int | None
    good_til_block_time: datetime | None
    indexer_order_id: uuid.UUID
    quantums: str
    subticks: str
    trigger_subticks: str | None
    tx_hash: str | None


class ChainErrorOut(BaseModel):
    codespace: str
    code: int
    log: str


class UnrecordedOutcomeOut(BaseModel):
    status: OrderStatus = Field(description="The status the broadcast's answer means.")
    reason: str


class OrderOut(BaseModel):
    id: uuid.UUID
    status: OrderStatus
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    size: DecimalOut
    price: DecimalOut | None
    trigger_price: DecimalOut | None
    max_slippage_bps: int | None
    reduce_only: bool
    post_only: bool
    filled_size: DecimalOut
    average_fill_price: DecimalOut | None
    client_order_id: str | None
    subaccount: int
    api_key_id: uuid.UUID | None = Field(
        default=None, description="The API key that placed the order (null: the system's)."
    )
    placement_reason: str | None = Field(
        default=None, description="The reason the caller gave when placing (or closing with) it"
    )
    cancel_reason: str | None = Field(
        default=None, description="The reason the caller gave when canceling it"
    )
    chain: ChainIdsOut
    error: ChainErrorOut | None
    created_at: datetime | None
    updated_at: datetime | None
    status_history: list[StatusChangeOut] | None = Field(
        description="Every status change, oldest first (only on single-order responses)."
    )
    unrecorded_outcome: UnrecordedOutcomeOut | None = Field(
        default=None,
        description="Set (with HTTP 202) when the chain answered the broadcast but the answer "
        "could not be stored: `status` is what the stored row says, this is what the chain "
        "said. The reconciler records the truth; read the order again, never place it again.",
    )

    @classmethod
    def of(cls, o: Order, *, with_history: bool = True) -> OrderOut:
        err = o.last_error
        return cls(
            id=o.id,
            status=o.status,
            market=o.market,
            side=o.side,
            type=o.type,
            time_in_force=o.time_in_force,
            size=o.size,
            price=o.price,
            trigger_price=o.trigger_price,
            max_slippage_bps=o.slippage_bps,
            reduce_only=o.reduce_only,
            post_only=o.post_only,
            filled_size=o.filled_size,
            average_fill_price=o.average_fill_price,
            client_order_id=o.client_order_id,
            subaccount=o.subaccount_number,
            api_key_id=o.api_key_id,
            placement_reason=o.placement_reason,
            cancel_reason=o.cancel_reason,
            chain=ChainIdsOut(
                client_id=o.client_id,
                order_flags=o.order_flags,
                clob_pair_id=o.clob_pair_id,
                owner=o.address,
                subaccount_number=o.subaccount_number,
                good_til_block=o.good_til_block,
                good_til_block_time=o.good_til_block_time,
                indexer_order_id=o.indexer_order_id,
                quantums=str(o.quantums),
                subticks=str(o.subticks),
                trigger_subticks=None if o.trigger_subticks is None else str(o.trigger_subticks),
                tx_hash=o.tx_hash,
            ),
            error=None
            if err is None
            else ChainErrorOut(codespace=err.codespace, code=err.code, log=err.log),
            created_at=o.created_at,
            updated_at=o.updated_at,
            status_history=None
            if not with_history
            else [
                StatusChangeOut(
                    from_status=h.from_status,
                    to_status=h.to_status,
                    reason=h.reason,
                    chain_height=h.chain_height,
                    at=h.at,
                )
                for h in o.history
            ],
        )


class OrderPage(BaseModel):
    orders: list[OrderOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next (older) page; null on the last page."
    )


class CancelFailureOut(BaseModel):
    order_id: uuid.UUID
    code: str = Field(
        description="`order_not_cancelable` (the chain refused the cancel, or the order is "
        "final), or `cancel_outcome_unknown` (no answer: it stays CANCEL_REQUESTED)"
    )
    message: str
    details: dict[str, Any] | None = None


class CancelResult(BaseModel):
    orders: list[OrderOut] = Field(description="Every order the request selected, as stored now")
    failed: list[CancelFailureOut] = Field(
        default_factory=list,
        description="Orders whose cancel did not, or may not have, reached the chain; a cancel "
        "was sent for every other order",
    )

    @classmethod
    def of(cls, report: CancelReport) -> CancelResult:
        return cls(
            orders=[OrderOut.of(o) for o in report.orders],
            failed=[
                CancelFailureOut(
                    order_id=f.order_id, code=f.code, message=f.message, details=f.details or None
                )
                for f in report.failed
            ],
        )


class SubaccountIdOut(BaseModel):
    owner: str
    number: int


class ChainOrderIdOut(BaseModel):
    """The chain's OrderId (protocol/x/clob/types/order.pb.go): what identifies the order on
    the chain, for cancels and look-ups."""

    subaccount_id: SubaccountIdOut
    client_id: int
    order_flags: int
    clob_pair_id: int


class DryRunOut(BaseModel):
    """A preview: the quantized order, its chain OrderId and the hash of the bytes a placement
    would sign. Never a signature nor a transaction: nothing here can be broadcast."""

    dry_run: bool = True
    order: OrderOut
    order_id: ChainOrderIdOut
    sign_doc_sha256: str = Field(
        description=(
            "Hex sha256 of the SignDoc (SIGN_MODE_DIRECT) a placement would sign now. For a "
            "stateful order in timestamp_nonce sequencing (always for a permissioned key) its "
            "sequence is the unix-ms nonce a tx signed at the preview would take, else the "
            "account sequence; a later placement takes a later nonce, so its digest differs."
        )
    )

    @classmethod
    def of(cls, o: Order, sign_doc_sha256: str) -> DryRunOut:
        return cls(
            order=OrderOut.of(o),
            order_id=ChainOrderIdOut(
                subaccount_id=SubaccountIdOut(owner=o.address, number=o.subaccount_number),
                client_id=o.client_id,
                order_flags=o.order_flags,
                clob_pair_id=o.clob_pair_id,
            ),
            sign_doc_sha256=sign_doc_sha256,
        )


class PositionOut(BaseModel):
    market: str
    side: str
    size: DecimalOut
    entry_price: DecimalOut | None
    unrealized_pnl: DecimalOut | None


class PositionsOut(BaseModel):
    positions: list[PositionOut]
    equity: DecimalOut | None
    free_collateral: DecimalOut | None
    subaccount: int
    source: str

    @classmethod
    def of(cls, snap: AccountSnapshot, subaccount: int) -> PositionsOut:
        return cls(
            positions=[
                PositionOut(
                    market=p.market,
                    side="LONG" if p.size > 0 else "SHORT",
                    size=abs(p.size),
                    entry_price=p.entry_price,
                    unrealized_pnl=p.unrealized_pnl,
                )
                for p in snap.positions
                if p.size
            ],
            equity=snap.equity,
            free_collateral=snap.free_collateral,
            subaccount=subaccount,
            source=snap.source,
        )


class MarketOut(BaseModel):
    market: str
    clob_pair_id: int
    status: str
    tick_size: DecimalOut
    step_size: DecimalOut
    min_order_size: DecimalOut
    oracle_price: DecimalOut | None
    atomic_resolution: int
    quantum_conversion_exponent: int
    step_base_quantums: int
    subticks_per_tick: int

    @classmethod
    def of(cls, view: MarketView) -> MarketOut:
        spec = view.spec
        return cls(
            market=spec.ticker,
            clob_pair_id=spec.clob_pair_id,
            status=str(spec.status),
            tick_size=spec.tick_size,
            step_size=spec.step_size,
            # The chain's minimum order size is one step (MinOrderBaseQuantums, clob_pair.go).
            min_order_size=spec.step_size,
            oracle_price=view.oracle_price,
            atomic_resolution=spec.atomic_resolution,
            quantum_conversion_exponent=spec.quantum_conversion_exponent,
            step_base_quantums=spec.step_base_quantums,
            subticks_per_tick=spec.subticks_per_tick,
        )


class MarketsOut(BaseModel):
    markets: list[MarketOut]
