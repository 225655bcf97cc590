"""Tx builder: decoded structure, chain-side ValidateBasic rules, signature over the SignDoc."""

import hashlib

import ecdsa
import pytest
from pydantic import SecretStr
from v4_proto.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxBody, TxRaw
from v4_proto.dydxprotocol.clob.order_pb2 import Order
from v4_proto.dydxprotocol.clob.tx_pb2 import MsgBatchCancel, MsgCancelOrder, MsgPlaceOrder

from dydx_router.chain import tx
from dydx_router.chain.errors import InvalidTxInput
from dydx_router.chain.tx import ChainOrderId, ConditionType, OrderFlags, TimeInForce
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Side

ABANDON = " ".join(["abandon"] * 11 + ["about"])
CHAIN_ID = "localdydxprotocol"


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.from_mnemonic(SecretStr(ABANDON))


def _oid(
    wallet: Wallet, flags: OrderFlags = OrderFlags.SHORT_TERM, client_id: int = 7
) -> ChainOrderId:
    return ChainOrderId(wallet.address, 0, client_id, 1, flags)


def _decode(signed: tx.SignedTx) -> tuple[TxRaw, TxBody, AuthInfo]:
    raw = TxRaw.FromString(signed.tx_bytes)
    return raw, TxBody.FromString(raw.body_bytes), AuthInfo.FromString(raw.auth_info_bytes)


def test_signed_place_order_decodes_to_what_was_asked(wallet: Wallet) -> None:
    msg = tx.place_order(
        _oid(wallet),
        side=Side.SELL,
        quantums=2_000_000,
        subticks=3_000_100_000,
        time_in_force=TimeInForce.POST_ONLY,
        good_til_block=1234,
        client_metadata=5,
    )
    signed = tx.sign_tx(
        wallet, [msg], chain_id=CHAIN_ID, account_number=9, sequence=3, memo="router"
    )
    raw, body, auth = _decode(signed)

    assert signed.tx_hash == hashlib.sha256(signed.tx_bytes).hexdigest().upper()
    assert body.memo == "router"
    (any_msg,) = body.messages
    assert any_msg.type_url == "/dydxprotocol.clob.MsgPlaceOrder"
    order = MsgPlaceOrder.FromString(any_msg.value).order
    assert order.order_id.subaccount_id.owner == wallet.address
    assert (order.order_id.client_id, order.order_id.clob_pair_id) == (7, 1)
    assert order.side == Order.Side.SIDE_SELL
    assert (order.quantums, order.subticks) == (2_000_000, 3_000_100_000)
    assert order.WhichOneof("good_til_oneof") == "good_til_block"
    assert order.good_til_block == 1234
    assert order.time_in_force == Order.TimeInForce.TIME_IN_FORCE_POST_ONLY
    assert order.client_metadata == 5

    (signer,) = auth.signer_infos
    assert signer.public_key.type_url == "/cosmos.crypto.secp256k1.PubKey"
    assert PubKey.FromString(signer.public_key.value).key == wallet.public_key
    assert signer.mode_info.single.mode == 1  # SIGN_MODE_DIRECT
    assert signer.sequence == 3
    assert list(auth.fee.amount) == []
    assert auth.fee.gas_limit == 1_000_000

    # The signature covers SignDoc{body_bytes, auth_info_bytes, chain_id, account_number}.
    doc = SignDoc(
        body_bytes=raw.body_bytes,
        auth_info_bytes=raw.auth_info_bytes,
        chain_id=CHAIN_ID,
        account_number=9,
    ).SerializeToString()
    vk = ecdsa.VerifyingKey.from_string(wallet.public_key, curve=ecdsa.SECP256k1)
    (sig,) = raw.signatures
    assert vk.verify(sig, doc, hashfunc=hashlib.sha256)
    wrong_chain = SignDoc(
        body_bytes=raw.body_bytes,
        auth_info_bytes=raw.auth_info_bytes,
        chain_id="dydx-mainnet-1",
        account_number=9,
    ).SerializeToString()
    with pytest.raises(ecdsa.BadSignatureError):
        vk.verify(sig, wrong_chain, hashfunc=hashlib.sha256)


def test_building_is_deterministic(wallet: Wallet) -> None:
    def build() -> tx.SignedTx:
        msg = tx.cancel_order(_oid(wallet), good_til_block=50)
        return tx.sign_tx(wallet, [msg], chain_id=CHAIN_ID, account_number=1, sequence=0)

    assert build() == build()


def test_stateful_order_sets_only_good_til_block_time(wallet: Wallet) -> None:
    msg = tx.place_order(
        _oid(wallet, OrderFlags.CONDITIONAL),
        side=Side.BUY,
        quantums=1_000_000,
        subticks=100_000,
        time_in_force=TimeInForce.IOC,
        good_til_block_time=1_800_000_000,
        reduce_only=True,
        condition_type=ConditionType.STOP_LOSS,
        conditional_order_trigger_subticks=200_000,
        order_router_address="dydx1router",
    )
    assert msg.order.WhichOneof("good_til_oneof") == "good_til_block_time"
    assert msg.order.condition_type == Order.ConditionType.CONDITION_TYPE_STOP_LOSS
    assert msg.order.conditional_order_trigger_subticks == 200_000
    assert msg.order.order_router_address == "dydx1router"
    assert msg.order.reduce_only


def test_unset_router_address_is_not_encoded(wallet: Wallet) -> None:
    # Field 14 exists only on v9 chains; absent, the bytes equal an 8.x client's.
    msg = tx.place_order(
        _oid(wallet), side=Side.BUY, quantums=1_000_000, subticks=100_000, good_til_block=9
    )
    assert not msg.order.HasField("good_til_block_time")
    assert b"\xa2\x01" not in msg.order.SerializeToString()  # tag of field 14, wire type 2


def test_cancel_messages(wallet: Wallet) -> None:
    short = tx.cancel_order(_oid(wallet), good_til_block=77)
    assert isinstance(short, MsgCancelOrder)
    assert short.WhichOneof("good_til_oneof") == "good_til_block"
    long = tx.cancel_order(_oid(wallet, OrderFlags.LONG_TERM), good_til_block_time=1_800_000_000)
    assert long.WhichOneof("good_til_oneof") == "good_til_block_time"


def test_batch_cancel_keeps_market_order(wallet: Wallet) -> None:
    msg = tx.batch_cancel(wallet.address, 0, {1: [5, 6], 0: [7]}, good_til_block=88)
    assert isinstance(msg, MsgBatchCancel)
    assert [(b.clob_pair_id, list(b.client_ids)) for b in msg.short_term_cancels] == [
        (1, [5, 6]),
        (0, [7]),
    ]
    assert msg.good_til_block == 88


def test_short_term_classification(wallet: Wallet) -> None:
    short = tx.place_order(_oid(wallet), side=Side.BUY, quantums=1, subticks=1, good_til_block=9)
    long = tx.place_order(
        _oid(wallet, OrderFlags.LONG_TERM),
        side=Side.BUY,
        quantums=1,
        subticks=1,
        good_til_block_time=1_800_000_000,
    )
    assert tx.is_short_term_message(short)
    assert not tx.is_short_term_message(long)
    assert tx.is_short_term_message(tx.cancel_order(_oid(wallet), good_til_block=9))
    assert tx.is_short_term_message(tx.batch_cancel(wallet.address, 0, {0: [1]}, good_til_block=9))
    assert not tx.is_short_term_message(
        tx.cancel_order(_oid(wallet, OrderFlags.LONG_TERM), good_til_block_time=1)
    )


_PLACE = {"side": Side.BUY, "quantums": 1_000_000, "subticks": 100_000}


@pytest.mark.parametrize(
    ("flags", "overrides", "message"),
    [
        (OrderFlags.SHORT_TERM, {"quantums": 0}, "clob/4"),
        (OrderFlags.SHORT_TERM, {"subticks": 0, "good_til_block": 5}, "clob/6"),
        (OrderFlags.SHORT_TERM, {}, "needs good_til_block"),
        (OrderFlags.SHORT_TERM, {"good_til_block_time": 5}, "needs good_til_block"),
        (OrderFlags.LONG_TERM, {"good_til_block": 5}, "needs good_til_block_time"),
        (
            OrderFlags.LONG_TERM,
            {"good_til_block_time": 5, "time_in_force": TimeInForce.IOC},
            "clob/3002",
        ),
        (OrderFlags.SHORT_TERM, {"good_til_block": 5, "reduce_only": True}, "clob/9003"),
        (OrderFlags.CONDITIONAL, {"good_til_block_time": 5}, "clob/6000"),
        (
            OrderFlags.CONDITIONAL,
            {"good_til_block_time": 5, "condition_type": ConditionType.TAKE_PROFIT},
            "clob/6001",
        ),
        (
            OrderFlags.LONG_TERM,
            {"good_til_block_time": 5, "conditional_order_trigger_subticks": 5},
            "clob/6000",
        ),
        (OrderFlags.SHORT_TERM, {"good_til_block": 2**32}, "uint32"),
    ],
)
def test_place_order_applies_validate_basic(
    wallet: Wallet, flags: OrderFlags, overrides: dict[str, object], message: str
) -> None:
    args = {**_PLACE, **overrides}
    with pytest.raises(InvalidTxInput, match=message):
        tx.place_order(_oid(wallet, flags), **args)  # type: ignore[arg-type]
    if message != "uint32":  # protobuf itself refuses values outside the field's range
        # validate=False builds it anyway, so the chain's own rejection can be tested.
        tx.place_order(_oid(wallet, flags), validate=False, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("oid_args", "message"),
    [
        ({"client_id": 2**32}, "client_id"),
        ({"subaccount_number": 128_001}, "subaccount number"),
        ({"owner": ""}, "owner"),
    ],
)
def test_order_id_ranges(wallet: Wallet, oid_args: dict[str, object], message: str) -> None:
    fields = {
        "owner": wallet.address,
        "subaccount_number": 0,
        "client_id": 1,
        "clob_pair_id": 0,
        "order_flags": OrderFlags.SHORT_TERM,
        **oid_args,
    }
    oid = ChainOrderId(**fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidTxInput, match=message):
        tx.cancel_order(oid, good_til_block=5)


def test_cancel_and_batch_cancel_validation(wallet: Wallet) -> None:
    with pytest.raises(InvalidTxInput, match="clob/5"):
        tx.cancel_order(_oid(wallet))
    with pytest.raises(InvalidTxInput, match="clob/3001"):
        tx.cancel_order(_oid(wallet, OrderFlags.LONG_TERM), good_til_block=5)
    with pytest.raises(InvalidTxInput, match="at least one"):
        tx.batch_cancel(wallet.address, 0, {}, good_til_block=5)
    with pytest.raises(InvalidTxInput, match="at least one"):
        tx.batch_cancel(wallet.address, 0, {0: []}, good_til_block=5)
    with pytest.raises(InvalidTxInput, match="duplicate"):
        tx.batch_cancel(wallet.address, 0, {0: [1, 1]}, good_til_block=5)
    with pytest.raises(InvalidTxInput, match="at most 100"):
        tx.batch_cancel(wallet.address, 0, {0: range(60), 1: range(41)}, good_til_block=5)
    with pytest.raises(InvalidTxInput, match="good_til_block"):
        tx.batch_cancel(wallet.address, 0, {0: [1]}, good_til_block=0)


def test_sign_tx_limits_and_fee(wallet: Wallet) -> None:
    msg = tx.cancel_order(_oid(wallet), good_til_block=5)
    with pytest.raises(InvalidTxInput, match="memo"):
        tx.sign_tx(wallet, [msg], chain_id=CHAIN_ID, account_number=0, sequence=0, memo="m" * 257)
    with pytest.raises(InvalidTxInput, match="at least one message"):
        tx.sign_tx(wallet, [], chain_id=CHAIN_ID, account_number=0, sequence=0)
    signed = tx.sign_tx(
        wallet,
        [msg, msg],
        chain_id=CHAIN_ID,
        account_number=0,
        sequence=0,
        gas_limit=200_000,
        fee=[("uusdc", 5000)],
    )
    _, body, auth = _decode(signed)
    assert len(body.messages) == 2
    assert [(c.denom, c.amount) for c in auth.fee.amount] == [("uusdc", "5000")]
    assert auth.fee.gas_limit == 200_000


def test_a_preview_is_the_hash_of_what_would_be_signed_and_nothing_else(wallet: Wallet) -> None:
    msg = tx.place_order(
        _oid(wallet), side=Side.BUY, quantums=1_000_000, subticks=5_000_000, good_til_block=9
    )
    args = {"chain_id": CHAIN_ID, "account_number": 9, "sequence": 3, "memo": "router"}
    digest = tx.sign_doc_sha256(wallet.public_key, [msg], **args)  # type: ignore[arg-type]
    raw = TxRaw.FromString(tx.sign_tx(wallet, [msg], **args).tx_bytes)  # type: ignore[arg-type]
    (sig,) = raw.signatures
    # The signature a placement would carry is over exactly the SignDoc the preview hashes.
    vk = ecdsa.VerifyingKey.from_string(wallet.public_key, curve=ecdsa.SECP256k1)
    assert vk.verify_digest(sig, bytes.fromhex(digest))
    assert len(digest) == 64 and digest.encode() not in raw.SerializeToString()
