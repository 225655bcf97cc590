"""Pure builders for dYdX clob messages (``chain/messages.py``, re-exported here) and signed
Cosmos transactions.

Contract
--------
* Pure and synchronous: no I/O, no clock, no randomness. The same inputs give the same bytes
  (RFC 6979 makes the signature deterministic), byte-identical to the official
  ``dydx-v4-client`` 1.1.5 for the same inputs (``tests/fixtures/golden_txs.json``).
* Inputs are chain units (``quantums``, ``subticks``: ints already produced by
  :class:`dydx_router.domain.market.MarketSpec`), never human decimals, never floats.
* :func:`place_order`, :func:`cancel_order` and :func:`batch_cancel` return ``v4_proto`` messages
  (``dydxprotocol.clob``). With ``validate=True`` (the default) they first apply the chain's
  stateless checks (``ValidateBasic`` in ``protocol/x/clob/types/message_*.go``) and raise
  :class:`~dydx_router.chain.errors.InvalidTxInput` instead of wasting a round trip;
  ``validate=False`` builds whatever it is given (for tests of the chain's own rejections).
* :func:`sign_tx` wraps messages in ``TxBody`` / ``AuthInfo`` (one secp256k1 signer,
  SIGN_MODE_DIRECT), signs ``sha256(SignDoc)`` with a low-S 64-byte signature and returns
  :class:`SignedTx` (``tx_bytes`` = ``TxRaw``, ``tx_hash`` = uppercase hex sha256 of the bytes,
  the hash CometBFT and ``GetTx`` use).
* Clob txs carry zero fee and gas limit 1,000,000: the chain runs them on a free infinite gas
  meter with no fee deduction (``protocol/app/ante.go`` ``clobAnteHandle``,
  ``protocol/app/ante/gas.go``),
  and the official clients send exactly this.
* ``sequence`` is the caller's business (see ``chain/sequencer.py``): any value works for
  short-term txs; stateful txs need the account's next sequence or a timestamp nonce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.cosmos.base.v1beta1.coin_pb2 import Coin
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

from dydx_router.chain.authenticators import selected_authenticators as selected_authenticators
from dydx_router.chain.authenticators import tx_extension
from dydx_router.chain.errors import InvalidTxInput
from dydx_router.chain.messages import (
    MAX_BATCH_CANCELS,
    MAX_SUBACCOUNT_NUMBER,
    ChainOrderId,
    batch_cancel,
    cancel_order,
    is_short_term_message,
    place_order,
)
from dydx_router.domain.market import Side as Side

# The enums are the domain's (the order planner decides them); re-exported for callers.
from dydx_router.domain.order import OrderFlags as OrderFlags
from dydx_router.domain.planning import ChainTimeInForce as TimeInForce
from dydx_router.domain.planning import ConditionType as ConditionType

# With the message builders (chain/messages.py): one module to build and sign a tx with.
__all__ = [
    "CLOB_GAS_LIMIT",
    "MAX_BATCH_CANCELS",
    "MAX_MEMO_CHARS",
    "MAX_SUBACCOUNT_NUMBER",
    "ChainOrderId",
    "ConditionType",
    "OrderFlags",
    "Side",
    "SignedTx",
    "Signer",
    "TimeInForce",
    "batch_cancel",
    "cancel_order",
    "is_short_term_message",
    "place_order",
    "selected_authenticators",
    "sequence_of",
    "sign_doc_sha256",
    "sign_tx",
    "tx_hash_of",
]

# protocol/app/ante.go clobAnteHandle + the official clients' DEFAULT_FEE (node/builder.py).
CLOB_GAS_LIMIT = 1_000_000

# x/auth params at mainnet genesis: max_memo_characters.
MAX_MEMO_CHARS = 256

_TYPE_URL_PREFIX = "/"
_PUBKEY_TYPE_URL = "/cosmos.crypto.secp256k1.PubKey"


class Signer(Protocol):
    """The key-custody port: what :func:`sign_tx` needs from a key. ``chain.wallet.Wallet`` (a
    mnemonic) is one adapter; a KMS/HSM adapter is another (docs/security.md, "Key custody").
    ``sign`` returns the 64-byte low-S ``r||s`` signature over sha256(sign_doc)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, sign_doc: bytes, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_bytes: bytes
    tx_hash: str  # uppercase hex sha256(tx_bytes)


@lru_cache(maxsize=16)
def _signer_public_key(public_key: bytes) -> Any:
    return AnyProto(type_url=_PUBKEY_TYPE_URL, value=PubKey(key=public_key).SerializeToString())


_MODE_DIRECT = ModeInfo(single=ModeInfo.Single(mode=SignMode.SIGN_MODE_DIRECT))


@lru_cache(maxsize=64)
def _auth_info_bytes(
    public_key: bytes, sequence: int, gas_limit: int, fee: tuple[tuple[str, int], ...]
) -> bytes:
    """The signer's AuthInfo, serialised. It depends only on these, and short-term orders all
    carry the same sequence (v4-chain ``protocol/app/ante/util.go``
    ShouldSkipSequenceValidation): built once instead of for every order."""
    auth_info: bytes = AuthInfo(
        signer_infos=[
            SignerInfo(
                public_key=_signer_public_key(public_key),
                mode_info=_MODE_DIRECT,
                sequence=sequence,
            )
        ],
        fee=Fee(
            amount=[Coin(denom=denom, amount=str(amount)) for denom, amount in fee],
            gas_limit=gas_limit,
        ),
    ).SerializeToString()
    return auth_info


def sign_tx(
    signer: Signer,
    messages: Sequence[Any],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    memo: str = "",
    gas_limit: int = CLOB_GAS_LIMIT,
    fee: Sequence[tuple[str, int]] = (),
    authenticators: Sequence[int] = (),
) -> SignedTx:
    """Sign ``messages`` as one SIGN_MODE_DIRECT tx. ``fee`` is (denom, amount) pairs;
    ``authenticators``: a permissioned key's selection (``chain.authenticators.tx_extension``)."""
    body_bytes, auth_info_bytes, sign_doc = _sign_doc(
        signer.public_key,
        messages,
        chain_id,
        account_number,
        sequence,
        memo,
        gas_limit,
        fee,
        authenticators,
    )
    tx_bytes = TxRaw(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        signatures=[signer.sign(sign_doc)],
    ).SerializeToString()
    return SignedTx(tx_bytes=tx_bytes, tx_hash=tx_hash_of(tx_bytes))


def sign_doc_sha256(
    public_key: bytes,
    messages: Sequence[Any],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    memo: str = "",
    gas_limit: int = CLOB_GAS_LIMIT,
    fee: Sequence[tuple[str, int]] = (),
    authenticators: Sequence[int] = (),
) -> str:
    """The hex sha256 of the SignDoc ``sign_tx`` would sign (what the key signs), without
    signing: a preview that carries no signature cannot be broadcast."""
    _, _, sign_doc = _sign_doc(
        public_key,
        messages,
        chain_id,
        account_number,
        sequence,
        memo,
        gas_limit,
        fee,
        authenticators,
    )
    return hashlib.sha256(sign_doc).hexdigest()


def _sign_doc(
    public_key: bytes,
    messages: Sequence[Any],
    chain_id: str,
    account_number: int,
    sequence: int,
    memo: str,
    gas_limit: int,
    fee: Sequence[tuple[str, int]],
    authenticators: Sequence[int] = (),
) -> tuple[bytes, bytes, bytes]:
    if len(memo) > MAX_MEMO_CHARS:
        raise InvalidTxInput(f"memo longer than {MAX_MEMO_CHARS} characters")
    if not messages:
        raise InvalidTxInput("a tx needs at least one message")
    body_bytes = TxBody(
        messages=[
            AnyProto(
                type_url=_TYPE_URL_PREFIX + m.DESCRIPTOR.full_name, value=m.SerializeToString()
            )
            for m in messages
        ],
        memo=memo,
        non_critical_extension_options=tx_extension(tuple(authenticators)),
    ).SerializeToString()
    auth_info_bytes = _auth_info_bytes(public_key, sequence, gas_limit, tuple(fee))
    sign_doc = SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        chain_id=chain_id,
        account_number=account_number,
    ).SerializeToString()
    return body_bytes, auth_info_bytes, sign_doc


def tx_hash_of(tx_bytes: bytes) -> str:
    """The hash CometBFT and ``GetTx`` use: uppercase hex sha256 of the raw tx bytes."""
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def sequence_of(tx_bytes: bytes) -> int | None:
    """The sequence (or timestamp nonce) a signed tx carries; None if the bytes do not parse."""
    try:
        auth_info = AuthInfo.FromString(TxRaw.FromString(tx_bytes).auth_info_bytes)
    except Exception:  # protobuf's DecodeError: not a tx we signed
        return None
    if not auth_info.signer_infos:
        return None
    return int(auth_info.signer_infos[0].sequence)
