"""Decoding a Cosmos `TxRaw`, its clob messages, and verifying SIGN_MODE_DIRECT signatures.

Wire facts (v4-client-py-v2 `dydx_v4_client/node/builder.py`, `key_pair.py`, `wallet.py`): the tx is
`TxRaw{body_bytes, auth_info_bytes, signatures}`; the signature is secp256k1 ECDSA over
sha256(SignDoc{body_bytes, auth_info_bytes, chain_id, account_number}) as 64 bytes r||s with low S;
the address is bech32("dydx", ripemd160(sha256(compressed pubkey))). The devnet verifies; it never
signs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import bech32
from coincurve import PublicKey
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from google.protobuf.message import DecodeError
from v4_proto.cosmos.crypto.secp256k1 import keys_pb2
from v4_proto.cosmos.tx.v1beta1 import tx_pb2
from v4_proto.dydxprotocol.accountplus import tx_pb2 as accountplus_tx_pb2
from v4_proto.dydxprotocol.clob import order_pb2
from v4_proto.dydxprotocol.clob import tx_pb2 as clob_tx_pb2
from v4_proto.dydxprotocol.subaccounts import subaccount_pb2

from dydx_devnet.accountplus.msgs import (
    ADD_AUTHENTICATOR_URL,
    REMOVE_AUTHENTICATOR_URL,
    TX_EXTENSION_URL,
    AddAuthenticatorMsg,
    RemoveAuthenticatorMsg,
)
from dydx_devnet.errors import ErrInvalidRequest, ErrTxDecode
from dydx_devnet.model import (
    ConditionType,
    Order,
    OrderId,
    Side,
    SubaccountId,
    TimeInForce,
)

ADDRESS_PREFIX = "dydx"
SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"
SIGN_MODE_DIRECT = 1

PLACE_ORDER_URL = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL_ORDER_URL = "/dydxprotocol.clob.MsgCancelOrder"
BATCH_CANCEL_URL = "/dydxprotocol.clob.MsgBatchCancel"


@dataclass(frozen=True, slots=True)
class PlaceOrderMsg:
    order: Order
    # v9 fields the devnet validates but does not act on (proto/dydxprotocol/clob/order.proto 12-14)
    has_twap_parameters: bool = False
    builder_address: str | None = None
    builder_fee_ppm: int = 0
    order_router_address: str = ""

    @property
    def signer(self) -> str:
        return self.order.order_id.subaccount_id.owner


@dataclass(frozen=True, slots=True)
class CancelOrderMsg:
    order_id: OrderId
    good_til_block: int
    good_til_block_time: int

    @property
    def signer(self) -> str:
        return self.order_id.subaccount_id.owner


@dataclass(frozen=True, slots=True)
class OrderBatch:
    clob_pair_id: int
    client_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BatchCancelMsg:
    subaccount_id: SubaccountId
    short_term_cancels: tuple[OrderBatch, ...]
    good_til_block: int

    @property
    def signer(self) -> str:
        return self.subaccount_id.owner


ClobMsg = PlaceOrderMsg | CancelOrderMsg | BatchCancelMsg
Msg = ClobMsg | AddAuthenticatorMsg | RemoveAuthenticatorMsg


@dataclass(frozen=True, slots=True)
class SignerInfo:
    pub_key: bytes | None  # 33-byte compressed secp256k1 key, or None if absent
    pub_key_type: str
    sequence: int
    mode: int  # SIGN_MODE_* of a single signer; -1 for multisig


@dataclass(frozen=True, slots=True)
class DecodedTx:
    tx_bytes: bytes
    hash: str  # uppercase hex sha256 of the tx bytes (CometBFT tx hash)
    body_bytes: bytes
    auth_info_bytes: bytes
    signatures: tuple[bytes, ...]
    msgs: tuple[Msg, ...]
    memo: str
    timeout_height: int
    signer_infos: tuple[SignerInfo, ...]
    gas_limit: int
    # x/accountplus: the TxExtension's selected authenticators (empty: the signer's own key)
    selected_authenticators: tuple[int, ...] = ()
    fee_payer: str = ""

    @property
    def signers(self) -> list[str]:
        """Unique signers in order of first appearance (`GetSigners`)."""
        return list(dict.fromkeys(m.signer for m in self.msgs))


def tx_hash(tx_bytes: bytes) -> str:
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def _subaccount_id(p: object) -> SubaccountId:
    return SubaccountId(p.owner, p.number)  # type: ignore[attr-defined]


def _order_id(p: object) -> OrderId:
    return OrderId(
        _subaccount_id(p.subaccount_id),  # type: ignore[attr-defined]
        p.client_id,  # type: ignore[attr-defined]
        p.order_flags,  # type: ignore[attr-defined]
        p.clob_pair_id,  # type: ignore[attr-defined]
    )


def order_from_proto(p: order_pb2.Order) -> Order:
    """Enum fields keep unknown values as plain ints, so ValidateBasic can reject them."""
    return Order(
        order_id=_order_id(p.order_id),
        side=_enum(Side, p.side),
        quantums=p.quantums,
        subticks=p.subticks,
        good_til_block=p.good_til_block,
        good_til_block_time=p.good_til_block_time,
        time_in_force=_enum(TimeInForce, p.time_in_force),
        reduce_only=p.reduce_only,
        client_metadata=p.client_metadata,
        condition_type=_enum(ConditionType, p.condition_type),
        conditional_order_trigger_subticks=p.conditional_order_trigger_subticks,
    )


def order_to_proto(o: Order) -> order_pb2.Order:
    oid = o.order_id
    p = order_pb2.Order(
        order_id=order_id_to_proto(oid),
        side=int(o.side),
        quantums=o.quantums,
        subticks=o.subticks,
        time_in_force=int(o.time_in_force),
        reduce_only=o.reduce_only,
        client_metadata=o.client_metadata,
        condition_type=int(o.condition_type),
        conditional_order_trigger_subticks=o.conditional_order_trigger_subticks,
    )
    if o.good_til_block:
        p.good_til_block = o.good_til_block
    elif o.good_til_block_time:
        p.good_til_block_time = o.good_til_block_time
    return p


def order_id_to_proto(oid: OrderId) -> order_pb2.OrderId:
    return order_pb2.OrderId(
        subaccount_id=subaccount_pb2.SubaccountId(
            owner=oid.subaccount_id.owner, number=oid.subaccount_id.number
        ),
        client_id=oid.client_id,
        order_flags=oid.order_flags,
        clob_pair_id=oid.clob_pair_id,
    )


def order_hash(o: Order) -> bytes:
    """SHA256 of the marshaled order (`Order.GetOrderHash`), used to break replacement ties."""
    return hashlib.sha256(order_to_proto(o).SerializeToString(deterministic=True)).digest()


_E = TypeVar("_E", Side, TimeInForce, ConditionType)


def _enum(cls: type[_E], value: int) -> _E:
    try:
        return cls(value)
    except ValueError:
        # Out-of-range enum values survive as a pseudo-member ValidateBasic rejects.
        return value  # type: ignore[return-value]


def _decode_msg(type_url: str, value: bytes) -> Msg:
    if type_url == PLACE_ORDER_URL:
        m = clob_tx_pb2.MsgPlaceOrder.FromString(value)
        o = m.order
        return PlaceOrderMsg(
            order=order_from_proto(o),
            has_twap_parameters=o.HasField("twap_parameters"),
            builder_address=(
                o.builder_code_parameters.builder_address
                if o.HasField("builder_code_parameters")
                else None
            ),
            builder_fee_ppm=o.builder_code_parameters.fee_ppm,
            order_router_address=o.order_router_address,
        )
    if type_url == CANCEL_ORDER_URL:
        c = clob_tx_pb2.MsgCancelOrder.FromString(value)
        return CancelOrderMsg(_order_id(c.order_id), c.good_til_block, c.good_til_block_time)
    if type_url == BATCH_CANCEL_URL:
        b = clob_tx_pb2.MsgBatchCancel.FromString(value)
        return BatchCancelMsg(
            _subaccount_id(b.subaccount_id),
            tuple(OrderBatch(x.clob_pair_id, tuple(x.client_ids)) for x in b.short_term_cancels),
            b.good_til_block,
        )
    if type_url == ADD_AUTHENTICATOR_URL:
        a = accountplus_tx_pb2.MsgAddAuthenticator.FromString(value)
        return AddAuthenticatorMsg(a.sender, a.authenticator_type, a.data)
    if type_url == REMOVE_AUTHENTICATOR_URL:
        r = accountplus_tx_pb2.MsgRemoveAuthenticator.FromString(value)
        return RemoveAuthenticatorMsg(r.sender, r.id)
    raise ErrInvalidRequest.wrap(f"message type {type_url} is not supported by the devnet")


def _selected_authenticators(body: tx_pb2.TxBody) -> tuple[int, ...]:
    """The first non-critical extension option that unpacks as a TxExtension
    (`x/accountplus/lib/lib.go` GetAuthenticatorExtension); others are ignored."""
    for ext in body.non_critical_extension_options:
        if ext.type_url != TX_EXTENSION_URL:
            continue
        try:
            te = accountplus_tx_pb2.TxExtension.FromString(ext.value)
        except DecodeError:
            continue
        return tuple(te.selected_authenticators)
    return ()


def decode_tx(tx_bytes: bytes) -> DecodedTx:
    """Decode, or raise sdk/2 (tx parse error) the way the SDK's tx decoder does."""
    try:
        raw = tx_pb2.TxRaw.FromString(tx_bytes)
        body = tx_pb2.TxBody.FromString(raw.body_bytes)
        auth = tx_pb2.AuthInfo.FromString(raw.auth_info_bytes)
    except DecodeError as e:
        raise ErrTxDecode.wrap(str(e) or "failed to decode tx") from e
    msgs: list[Msg] = []
    for any_msg in body.messages:
        try:
            msgs.append(_decode_msg(any_msg.type_url, any_msg.value))
        except DecodeError as e:
            raise ErrTxDecode.wrap(f"unable to decode {any_msg.type_url}") from e
    infos: list[SignerInfo] = []
    for si in auth.signer_infos:
        pk: bytes | None = None
        pk_type = si.public_key.type_url
        if pk_type == SECP256K1_PUBKEY_URL:
            try:
                pk = keys_pb2.PubKey.FromString(si.public_key.value).key
            except DecodeError as e:
                raise ErrTxDecode.wrap("unable to decode secp256k1 public key") from e
        mode = si.mode_info.single.mode if si.mode_info.HasField("single") else -1
        infos.append(SignerInfo(pk, pk_type, si.sequence, mode))
    return DecodedTx(
        tx_bytes=tx_bytes,
        hash=tx_hash(tx_bytes),
        body_bytes=raw.body_bytes,
        auth_info_bytes=raw.auth_info_bytes,
        signatures=tuple(raw.signatures),
        msgs=tuple(msgs),
        memo=body.memo,
        timeout_height=body.timeout_height,
        signer_infos=tuple(infos),
        gas_limit=auth.fee.gas_limit,
        selected_authenticators=_selected_authenticators(body),
        fee_payer=auth.fee.payer,
    )


# ---- addresses ----------------------------------------------------------------------------
@lru_cache(maxsize=65_536)
def address_of(pub_key: bytes) -> str:
    h = hashlib.new("ripemd160", hashlib.sha256(pub_key).digest()).digest()
    words = bech32.convertbits(h, 8, 5)
    assert words is not None
    return str(bech32.bech32_encode(ADDRESS_PREFIX, words))


@lru_cache(maxsize=65_536)
def address_error(address: str) -> str | None:
    """Why ``address`` is not a valid `dydx` account address, or None (AccAddressFromBech32).
    Cached: bech32 decoding costs more than a signature check."""
    if not address.strip():
        return "empty address string is not allowed"
    hrp, words = bech32.bech32_decode(address)
    if hrp is None or words is None:
        return "decoding bech32 failed: invalid bech32 string"
    if hrp != ADDRESS_PREFIX:
        return f"invalid Bech32 prefix; expected {ADDRESS_PREFIX}, got {hrp}"
    data = bech32.convertbits(words, 5, 8, False)
    if data is None or len(data) not in (20, 32):
        return f"address length must be 20 or 32 bytes, got {len(data or [])}: unknown address"
    return None


# ---- signatures ---------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(tag: int, data: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(data)) + data if data else b""


def sign_doc_bytes(
    body_bytes: bytes, auth_info_bytes: bytes, chain_id: str, account_number: int
) -> bytes:
    """Proto encoding of `SignDoc` (fields 1-4; zero values omitted, as gogoproto marshals)."""
    out = (
        _len_field(0x0A, body_bytes)
        + _len_field(0x12, auth_info_bytes)
        + _len_field(0x1A, chain_id.encode())
    )
    if account_number:
        out += b"\x20" + _varint(account_number)
    return out


class PubKeyCache:
    """Parsed secp256k1 public keys (parsing costs as much as a verify)."""

    def __init__(self) -> None:
        self._keys: dict[bytes, PublicKey] = {}

    def get(self, pub_key: bytes) -> PublicKey | None:
        k = self._keys.get(pub_key)
        if k is None:
            try:
                k = PublicKey(pub_key)
            except ValueError:
                return None
            self._keys[pub_key] = k
        return k


def verify_signature(key: PublicKey, signature: bytes, sign_doc: bytes) -> bool:
    """ECDSA verify of a 64-byte compact r||s over sha256(sign_doc). libsecp256k1 rejects
    high-S signatures, as the SDK does (`secp256k1.PubKey.VerifySignature`)."""
    if len(signature) != 64:
        return False
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(GLOBAL_CONTEXT.ctx, sig, signature):
        return False
    digest = hashlib.sha256(sign_doc).digest()
    return bool(lib.secp256k1_ecdsa_verify(GLOBAL_CONTEXT.ctx, sig, digest, key.public_key))
