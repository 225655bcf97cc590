"""Hand-built signed txs for the devnet's CheckTx tests.

Messages are built straight from the v4_proto types (so tests can also build what no client
would send: unknown enum values, both good-til fields, several messages); the signature comes
from the router's `Wallet` (secp256k1, low-S, over sha256(SignDoc)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from v4_proto.cosmos.tx.signing.v1beta1.signing_pb2 import SignMode
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import (
    AuthInfo,
    Fee,
    ModeInfo,
    SignDoc,
    SignerInfo,
    TxBody,
    TxRaw,
)
from v4_proto.dydxprotocol.clob.order_pb2 import Order, OrderId
from v4_proto.dydxprotocol.clob.tx_pb2 import (
    MsgBatchCancel,
    MsgCancelOrder,
    MsgPlaceOrder,
    OrderBatch,
)
from v4_proto.dydxprotocol.subaccounts.subaccount_pb2 import SubaccountId

from dydx_devnet.engine import Engine, TxResult
from dydx_devnet.events import EventBus
from dydx_devnet.genesis import default_genesis
from dydx_devnet.state import ChainState
from dydx_router.chain.wallet import Wallet

CHAIN_ID = "localdydxprotocol"
BUY, SELL = 1, 2
IOC, POST_ONLY, FOK = 1, 2, 3
SHORT_TERM, CONDITIONAL, LONG_TERM = 0, 32, 64
STOP_LOSS, TAKE_PROFIT = 1, 2
BTC = 0  # clob pair: step 1,000,000 quantums (0.0001 BTC), tick 100,000 subticks ($1)
ETH = 1


def wallet(n: int) -> Wallet:
    return Wallet(n.to_bytes(32, "big"))


def order_id(
    w: Wallet | str, client_id: int, *, clob: int = BTC, flags: int = SHORT_TERM, number: int = 0
) -> Any:
    owner = w if isinstance(w, str) else w.address
    return OrderId(
        subaccount_id=SubaccountId(owner=owner, number=number),
        client_id=client_id,
        order_flags=flags,
        clob_pair_id=clob,
    )


def order(
    oid: Any,
    *,
    side: int = BUY,
    quantums: int = 10_000_000,
    subticks: int = 2_800_000_000,
    gtb: int | None = None,
    gtbt: int | None = None,
    tif: int = 0,
    reduce_only: bool = False,
    condition_type: int = 0,
    trigger: int = 0,
) -> Any:
    o = Order(
        order_id=oid,
        side=side,
        quantums=quantums,
        subticks=subticks,
        time_in_force=tif,
        reduce_only=reduce_only,
        condition_type=condition_type,
        conditional_order_trigger_subticks=trigger,
    )
    if gtb is not None:
        o.good_til_block = gtb
    if gtbt is not None:
        o.good_til_block_time = gtbt
    return MsgPlaceOrder(order=o)


def cancel(oid: Any, *, gtb: int | None = None, gtbt: int | None = None) -> Any:
    m = MsgCancelOrder(order_id=oid)
    if gtb is not None:
        m.good_til_block = gtb
    if gtbt is not None:
        m.good_til_block_time = gtbt
    return m


def batch_cancel(w: Wallet, batches: dict[int, list[int]], gtb: int) -> Any:
    return MsgBatchCancel(
        subaccount_id=SubaccountId(owner=w.address, number=0),
        short_term_cancels=[
            OrderBatch(clob_pair_id=c, client_ids=ids) for c, ids in batches.items()
        ],
        good_til_block=gtb,
    )


def tx_body(msgs: list[Any], *, memo: str = "", timeout_height: int = 0) -> bytes:
    """TxBody bytes: each message packed in an Any under its proto type URL."""
    return TxBody(
        messages=[
            AnyProto(type_url="/" + m.DESCRIPTOR.full_name, value=m.SerializeToString())
            for m in msgs
        ],
        memo=memo,
        timeout_height=timeout_height,
    ).SerializeToString()


def signer_info(key: bytes | None, sequence: int, mode: int = SignMode.SIGN_MODE_DIRECT) -> Any:
    """A SignerInfo; ``key=None`` leaves its public key out."""
    info = SignerInfo(mode_info=ModeInfo(single=ModeInfo.Single(mode=mode)), sequence=sequence)
    if key is not None:
        info.public_key.CopyFrom(
            AnyProto(
                type_url="/cosmos.crypto.secp256k1.PubKey",
                value=PubKey(key=key).SerializeToString(),
            )
        )
    return info


def sign(
    signer: Wallet,
    msgs: list[Any],
    *,
    account_number: int,
    sequence: int = 0,
    chain_id: str = CHAIN_ID,
    memo: str = "",
    timeout_height: int = 0,
    pub_key: bytes | bool | None = True,
    mode: int = SignMode.SIGN_MODE_DIRECT,
    signatures: list[bytes] | None = None,
) -> bytes:
    """TxRaw bytes. ``pub_key=True`` puts the signer's key in SignerInfo, ``None`` omits it, and
    bytes put that key instead."""
    body = tx_body(msgs, memo=memo, timeout_height=timeout_height)
    key = signer.public_key if pub_key is True else pub_key
    info = signer_info(key if isinstance(key, bytes) else None, sequence, mode)
    auth = AuthInfo(signer_infos=[info], fee=Fee(gas_limit=1_000_000)).SerializeToString()
    doc = SignDoc(
        body_bytes=body, auth_info_bytes=auth, chain_id=chain_id, account_number=account_number
    ).SerializeToString()
    sigs = signatures if signatures is not None else [signer.sign(doc)]
    return TxRaw(body_bytes=body, auth_info_bytes=auth, signatures=sigs).SerializeToString()


def sign_multi(signers: list[tuple[Wallet, int, int]], msgs: list[Any]) -> bytes:
    """One tx signed by several (wallet, account number, sequence), in signer order."""
    body = tx_body(msgs)
    infos = [signer_info(w.public_key, seq) for w, _, seq in signers]
    auth = AuthInfo(signer_infos=infos, fee=Fee(gas_limit=1_000_000)).SerializeToString()
    sigs = [
        w.sign(
            SignDoc(
                body_bytes=body, auth_info_bytes=auth, chain_id=CHAIN_ID, account_number=an
            ).SerializeToString()
        )
        for w, an, _ in signers
    ]
    return TxRaw(body_bytes=body, auth_info_bytes=auth, signatures=sigs).SerializeToString()


@dataclass
class Chain:
    """An in-process devnet engine (no sockets) with helpers to send signed txs."""

    state: ChainState
    engine: Engine
    bus: EventBus

    @classmethod
    def create(
        cls,
        *,
        seed: int = 1,
        market_makers: bool = False,
        oracle_walk: bool = False,
        short_term_limit: int = 2000,
        validators: int = 1,
    ) -> Chain:
        state = ChainState(default_genesis(short_term_limit), int(time.time() * 1000))
        bus = EventBus()
        engine = Engine(
            state,
            bus,
            seed=seed,
            market_makers=market_makers,
            oracle_walk=oracle_walk,
            validators=validators,
        )
        chain = cls(state, engine, bus)
        chain.commit()
        return chain

    @property
    def height(self) -> int:
        return self.state.height

    def commit(self, n: int = 1) -> int:
        for _ in range(n):
            self.engine.commit_block()
        return self.state.height

    def funded(self, n: int, usdc: str = "100000") -> Wallet:
        w = wallet(n)
        self.engine.fund(w.address, 0, Decimal(usdc))
        return w

    def account_number(self, w: Wallet) -> int:
        acc = self.state.account(w.address)
        assert acc is not None
        return acc.account_number

    def sequence(self, w: Wallet) -> int:
        acc = self.state.account(w.address)
        assert acc is not None
        return acc.sequence

    def tx(self, w: Wallet, *msgs: Any, sequence: int | None = None, **kw: Any) -> bytes:
        if "account_number" not in kw:
            acc = self.state.account(w.address)
            kw["account_number"] = acc.account_number if acc else 0
        if sequence is None:
            sequence = self.engine.next_sequence(w.address) or 0
        return sign(w, list(msgs), sequence=sequence, **kw)

    def send(self, w: Wallet, *msgs: Any, **kw: Any) -> TxResult:
        return self.engine.check_tx(self.tx(w, *msgs, **kw))

    def gtb(self, ahead: int = 5) -> int:
        return self.height + ahead

    def gtbt(self, seconds: int = 3600) -> int:
        return self.state.block_time_ms // 1000 + seconds

    def oracle_subticks(self, clob: int = BTC) -> int:
        m = self.state.market(clob)
        assert m is not None
        return round(m.oracle_subticks(self.state.oracle_price(m.market_param.id)))


def codes(r: TxResult) -> tuple[str, int]:
    return (r.codespace, r.code)
