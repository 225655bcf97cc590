"""The authenticator types the chain registers (`protocol/app/app.go` InitializeAuthenticators):
their configuration encodings, `Initialize`, `Authenticate` and `OnAuthenticatorAdded`
(`protocol/x/accountplus/authenticator/*.go`).

Configurations, as the chain reads them:

* SignatureVerification: the 33-byte compressed secp256k1 key (`signature_authenticator.go`);
* MessageFilter: comma-separated type URLs (`message_filter.go`, SEPARATOR in `constants.go`);
* SubaccountFilter / ClobPairIdFilter: comma-separated decimal uint32s
  (`subaccount_filter.go`, `clob_pair_id_filter.go`);
* AllOf / AnyOf: JSON `[{"type": ..., "config": <bytes>}, ...]` with at least two entries
  (`all_of.go`, `any_of.go`, `types/iface.go` SubAuthenticatorInitData); Go decodes the bytes
  from a base64 string or from an array of numbers, and matches the keys case-insensitively.
  The official Python client (dydx-v4-client 1.1.5) builds arrays of numbers in
  `Authenticator.compose`, but its `add_authenticator` rewrites them to base64 strings
  (`node/message.py` convert_nested_config_to_base64) before sending.

A filter passes any message it does not know (only place, cancel and batch cancel carry a
subaccount or clob pair). AllOf fails with 104 wrapping the first failure's text; AnyOf fails
with 105 listing every branch's failure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from coincurve import PublicKey

from dydx_devnet import errors as E
from dydx_devnet.accountplus import errors as AE
from dydx_devnet.accountplus.msgs import ADD_AUTHENTICATOR_URL, REMOVE_AUTHENTICATOR_URL
from dydx_devnet.errors import TxError
from dydx_devnet.tx import (
    BATCH_CANCEL_URL,
    CANCEL_ORDER_URL,
    PLACE_ORDER_URL,
    BatchCancelMsg,
    CancelOrderMsg,
    Msg,
    PlaceOrderMsg,
    verify_signature,
)

SIGNATURE_VERIFICATION = "SignatureVerification"
MESSAGE_FILTER = "MessageFilter"
SUBACCOUNT_FILTER = "SubaccountFilter"
CLOB_PAIR_ID_FILTER = "ClobPairIdFilter"
ALL_OF = "AllOf"
ANY_OF = "AnyOf"
REGISTERED = (
    ALL_OF,
    ANY_OF,
    CLOB_PAIR_ID_FILTER,
    MESSAGE_FILTER,
    SIGNATURE_VERIFICATION,
    SUBACCOUNT_FILTER,
)
SECP256K1_PUBKEY_SIZE = 33
_UINT32_MAX = (1 << 32) - 1


def msg_type_url(m: Msg) -> str:
    """`sdk.MsgTypeURL`."""
    from dydx_devnet.accountplus.msgs import AddAuthenticatorMsg

    if isinstance(m, PlaceOrderMsg):
        return PLACE_ORDER_URL
    if isinstance(m, CancelOrderMsg):
        return CANCEL_ORDER_URL
    if isinstance(m, BatchCancelMsg):
        return BATCH_CANCEL_URL
    return ADD_AUTHENTICATOR_URL if isinstance(m, AddAuthenticatorMsg) else REMOVE_AUTHENTICATOR_URL


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of `types.AuthenticationRequest` the registered authenticators read."""

    account: str
    msg: Msg
    msg_index: int
    signature: bytes
    sign_doc: bytes  # SIGN_MODE_DIRECT bytes with the account's number and the chain id
    account_number: int
    sequence: int
    chain_id: str
    authenticator_id: str


class Authenticator(Protocol):
    @property
    def type(self) -> str: ...

    def authenticate(self, req: Request) -> None:
        """Raise the chain's TxError, or return."""


def _go_set(values: Iterable[object]) -> str:
    """Go's `%v` of a `map[T]struct{}` (keys sorted, as fmt prints maps)."""
    return "map[" + " ".join(f"{v}:{{}}" for v in sorted(values)) + "]"  # type: ignore[type-var]


def _go_quote(s: str) -> str:
    """`strconv.Quote` for the ASCII text a config holds."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else ch)
    return '"' + "".join(out) + '"'


def _parse_uint32_list(config: bytes) -> frozenset[int]:
    """`strings.Split(config, ",")` then `strconv.ParseUint(s, 10, 32)` for each."""
    text = config.decode("utf-8", errors="replace")
    out = set()
    for part in text.split(","):
        if not part or not part.isascii() or not part.isdigit():
            raise AE.internal(f"strconv.ParseUint: parsing {_go_quote(part)}: invalid syntax")
        n = int(part)
        if n > _UINT32_MAX:
            raise AE.internal(f"strconv.ParseUint: parsing {_go_quote(part)}: value out of range")
        out.add(n)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class SignatureVerification:
    pub_key: bytes
    type: str = SIGNATURE_VERIFICATION

    def authenticate(self, req: Request) -> None:
        try:
            key = PublicKey(self.pub_key)
        except ValueError:
            key = None
        if key is None or not verify_signature(key, req.signature, req.sign_doc):
            raise AE.ErrSignatureVerification.wrap(
                f"signature verification failed; please verify account number "
                f"({req.account_number}), sequence ({req.sequence}) and chain-id ({req.chain_id})"
            )


@dataclass(frozen=True, slots=True)
class MessageFilter:
    whitelist: frozenset[str]
    type: str = MESSAGE_FILTER

    def authenticate(self, req: Request) -> None:
        url = msg_type_url(req.msg)
        if url not in self.whitelist:
            raise AE.ErrMessageTypeVerification.wrap(
                f"message types do not match. Got {url}, Expected {_go_set(self.whitelist)}"
            )


@dataclass(frozen=True, slots=True)
class SubaccountFilter:
    whitelist: frozenset[int]
    type: str = SUBACCOUNT_FILTER

    def authenticate(self, req: Request) -> None:
        m = req.msg
        if isinstance(m, PlaceOrderMsg):
            numbers = [m.order.order_id.subaccount_id.number]
        elif isinstance(m, CancelOrderMsg):
            numbers = [m.order_id.subaccount_id.number]
        elif isinstance(m, BatchCancelMsg):
            numbers = [m.subaccount_id.number]
        else:
            return
        for n in numbers:
            if n not in self.whitelist:
                raise AE.ErrSubaccountVerification.wrap(
                    f"subaccount number {n} not in whitelist {_go_set(self.whitelist)}"
                )


@dataclass(frozen=True, slots=True)
class ClobPairIdFilter:
    whitelist: frozenset[int]
    type: str = CLOB_PAIR_ID_FILTER

    def authenticate(self, req: Request) -> None:
        m = req.msg
        if isinstance(m, PlaceOrderMsg):
            ids = [m.order.order_id.clob_pair_id]
        elif isinstance(m, CancelOrderMsg):
            ids = [m.order_id.clob_pair_id]
        elif isinstance(m, BatchCancelMsg):
            ids = [b.clob_pair_id for b in m.short_term_cancels]
        else:
            return
        for cid in ids:
            if cid not in self.whitelist:
                raise AE.ErrClobPairIdVerification.wrap(
                    f"order id {cid} not in whitelist {_go_set(self.whitelist)}"
                )


def _with_id(req: Request, authenticator_id: str) -> Request:
    return Request(
        req.account,
        req.msg,
        req.msg_index,
        req.signature,
        req.sign_doc,
        req.account_number,
        req.sequence,
        req.chain_id,
        authenticator_id,
    )


@dataclass(frozen=True, slots=True)
class AllOf:
    subs: tuple[Authenticator, ...]
    type: str = ALL_OF

    def authenticate(self, req: Request) -> None:
        for i, sub in enumerate(self.subs):
            try:
                sub.authenticate(_with_id(req, f"{req.authenticator_id}.{i}"))
            except TxError as e:
                raise AE.ErrAllOfVerification.wrap(e.raw_log) from None


@dataclass(frozen=True, slots=True)
class AnyOf:
    subs: tuple[Authenticator, ...]
    type: str = ANY_OF

    def authenticate(self, req: Request) -> None:
        failures = []
        for i, sub in enumerate(self.subs):
            sub_id = f"{req.authenticator_id}.{i}"
            try:
                sub.authenticate(_with_id(req, sub_id))
            except TxError as e:
                failures.append(f"[{sub.type} (id = {sub_id})] {e.raw_log}; ")
            else:
                return
        raise AE.ErrAnyOfVerification.wrap(
            "all sub-authenticators failed to authenticate: " + "; ".join(failures)
        )


# ---- configuration ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubInit:
    type: str
    config: bytes


def _json_bytes(v: Any) -> bytes:
    if v is None:
        return b""
    if isinstance(v, str):
        try:
            return base64.b64decode(v.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise AE.internal("illegal base64 data at input byte 0") from None
    if isinstance(v, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in v):
        return bytes(v)
    raise AE.internal(
        "json: cannot unmarshal value into Go struct field SubAuthenticatorInitData.config "
        "of type []uint8"
    )


def parse_sub_inits(config: bytes) -> list[SubInit]:
    """`json.Unmarshal(config, &[]SubAuthenticatorInitData)`. The text of a JSON syntax error
    is Go's only for empty input (the devnet does not reproduce encoding/json's messages)."""
    if not config.strip():
        raise AE.internal("unexpected end of JSON input")
    try:
        raw = json.loads(config)
    except (ValueError, UnicodeDecodeError) as e:
        raise AE.internal(f"invalid character in JSON: {e}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AE.internal(
            "json: cannot unmarshal value into Go value of type []types.SubAuthenticatorInitData"
        )
    out = []
    for item in raw:
        if item is None:
            out.append(SubInit("", b""))
            continue
        if not isinstance(item, dict):
            raise AE.internal(
                "json: cannot unmarshal value into Go value of type types.SubAuthenticatorInitData"
            )
        fields = {k.lower(): v for k, v in item.items()}  # encoding/json folds key case
        t = fields.get("type")
        if t is not None and not isinstance(t, str):
            raise AE.internal(
                "json: cannot unmarshal value into Go struct field "
                "SubAuthenticatorInitData.type of type string"
            )
        out.append(SubInit(t or "", _json_bytes(fields.get("config"))))
    return out


def initialize(auth_type: str, config: bytes) -> Authenticator:
    """`Initialize` of the registered type (the caller has checked it is registered)."""
    if auth_type == SIGNATURE_VERIFICATION:
        return SignatureVerification(config)
    if auth_type == MESSAGE_FILTER:
        return MessageFilter(frozenset(config.decode("utf-8", errors="replace").split(",")))
    if auth_type == SUBACCOUNT_FILTER:
        return SubaccountFilter(_parse_uint32_list(config))
    if auth_type == CLOB_PAIR_ID_FILTER:
        return ClobPairIdFilter(_parse_uint32_list(config))
    try:
        inits = parse_sub_inits(config)
    except TxError as e:
        raise AE.wrap(e, "failed to parse sub-authenticators initialization data") from None
    if len(inits) <= 1:
        name = "allOf" if auth_type == ALL_OF else "anyOf"
        raise E.ErrInvalidRequest.wrap(f"{name} must have at least 2 sub-authenticators")
    subs = []
    for s in inits:
        if s.type not in REGISTERED:
            # GetAuthenticatorByType returns nil and Go panics calling it; the chain's
            # OnAuthenticatorAdded refuses such trees, so none is ever stored.
            raise E.ErrInvalidRequest.wrap(f"sub-authenticator type {s.type} is not registered")
        try:
            subs.append(initialize(s.type, s.config))
        except TxError as e:
            raise AE.wrap(e, f"failed to initialize sub-authenticator (type = {s.type})") from None
    cls = AllOf if auth_type == ALL_OF else AnyOf
    return cls(tuple(subs))


def on_added(auth_type: str, config: bytes, authenticator_id: str) -> bool:
    """`OnAuthenticatorAdded`: whether every path verifies a signature (AllOf: any sub does;
    AnyOf: all subs do). Raises the chain's error for a malformed tree."""
    if auth_type == SIGNATURE_VERIFICATION:
        if len(config) != SECP256K1_PUBKEY_SIZE:
            raise AE.internal(
                f"invalid secp256k1 public key size, expected {SECP256K1_PUBKEY_SIZE}, "
                f"got {len(config)}"
            )
        return True
    if auth_type in (MESSAGE_FILTER, SUBACCOUNT_FILTER, CLOB_PAIR_ID_FILTER):
        return False
    try:
        inits = parse_sub_inits(config)
    except TxError as e:
        raise AE.wrap(e, "failed to unmarshal sub-authenticator init data") from None
    if len(inits) <= 1:
        raise E.ErrInvalidRequest.wrap("no sub-authenticators provided")
    any_of = auth_type == ANY_OF
    require = any_of
    for i, s in enumerate(inits):
        if s.type not in REGISTERED:
            raise E.ErrInvalidRequest.wrap(
                "sub-authenticator failed to be added in function `OnAuthenticatorAdded` as "
                "type is not registered in manager"
            )
        sub_id = f"{authenticator_id}.{i}"
        try:
            sub_require = on_added(s.type, s.config, sub_id)
        except TxError as e:
            raise AE.wrap(
                e,
                "sub-authenticator `OnAuthenticatorAdded` failed "
                f"(sub-authenticator id = {sub_id})",
            ) from None
        require = (require and sub_require) if any_of else (require or sub_require)
    return require
