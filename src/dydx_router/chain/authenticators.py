"""x/accountplus authenticators: the configurations the chain reads, the messages that add and
remove them, and a readable description for ``dydx-router keys list``.

Encodings (`protocol/x/accountplus/authenticator/*.go`): SignatureVerification holds the
33-byte compressed key; MessageFilter comma-separated type URLs; SubaccountFilter and
ClobPairIdFilter comma-separated decimals; AllOf / AnyOf a JSON list of ``{"type", "config"}``
whose config Go reads as bytes (base64 strings). We write that list exactly as the official
Python client's ``add_authenticator`` sends it (``node/message.py``
convert_nested_config_to_base64: base64 configs, nested lists converted first, ``json.dumps``
default separators), so an authenticator granted here is byte-identical to one granted with the
official client (``tests/fixtures/golden_permissioned.json``).

A permissioned trading key (the official docs' recommendation) is
``AllOf(SignatureVerification(key), AnyOf(MessageFilter(place), MessageFilter(cancel),
MessageFilter(batch cancel)), SubaccountFilter(numbers), ClobPairIdFilter(ids))``: it can only
place and cancel orders, only on those subaccounts and markets, only when that key signed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.dydxprotocol.accountplus.tx_pb2 import (
    MsgAddAuthenticator,
    MsgRemoveAuthenticator,
    TxExtension,
)

PLACE_ORDER_URL = "/dydxprotocol.clob.MsgPlaceOrder"
CANCEL_ORDER_URL = "/dydxprotocol.clob.MsgCancelOrder"
BATCH_CANCEL_URL = "/dydxprotocol.clob.MsgBatchCancel"
TRADING_MESSAGES = (PLACE_ORDER_URL, CANCEL_ORDER_URL, BATCH_CANCEL_URL)
TX_EXTENSION_URL = "/dydxprotocol.accountplus.TxExtension"
# types/message_add_authenticator.go AUTHENTICATOR_DATA_MAX_LENGTH
MAX_CONFIG_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Authenticator:
    type: str
    config: bytes


def signature_verification(public_key: bytes) -> Authenticator:
    if len(public_key) != 33:
        raise ValueError("a SignatureVerification key is a 33-byte compressed secp256k1 key")
    return Authenticator("SignatureVerification", public_key)


def message_filter(*type_urls: str) -> Authenticator:
    if not type_urls or any(not u.startswith("/") or "," in u for u in type_urls):
        raise ValueError("message filters take type URLs such as /dydxprotocol.clob.MsgPlaceOrder")
    return Authenticator("MessageFilter", ",".join(type_urls).encode())


def _numbers(name: str, values: Sequence[int]) -> bytes:
    if not values or any(not 0 <= v < 2**32 for v in values):
        raise ValueError(f"a {name} needs at least one uint32")
    return ",".join(str(v) for v in values).encode()


def subaccount_filter(numbers: Sequence[int]) -> Authenticator:
    return Authenticator("SubaccountFilter", _numbers("SubaccountFilter", numbers))


def clob_pair_id_filter(ids: Sequence[int]) -> Authenticator:
    return Authenticator("ClobPairIdFilter", _numbers("ClobPairIdFilter", ids))


def compose(kind: str, subs: Sequence[Authenticator]) -> Authenticator:
    """AllOf / AnyOf of at least two (`all_of.go` / `any_of.go` Initialize)."""
    if kind not in ("AllOf", "AnyOf") or len(subs) < 2:
        raise ValueError("AllOf / AnyOf need at least two sub-authenticators")
    items = [{"type": s.type, "config": base64.b64encode(s.config).decode()} for s in subs]
    return Authenticator(kind, json.dumps(items).encode())


def trading_key(
    public_key: bytes, subaccounts: Sequence[int], clob_pair_ids: Sequence[int]
) -> Authenticator:
    """The recommended permissioned trading key (module docstring)."""
    auth = compose(
        "AllOf",
        [
            signature_verification(public_key),
            compose("AnyOf", [message_filter(u) for u in TRADING_MESSAGES]),
            subaccount_filter(subaccounts),
            clob_pair_id_filter(clob_pair_ids),
        ],
    )
    if len(auth.config) > MAX_CONFIG_BYTES:
        raise ValueError(f"the authenticator's config exceeds {MAX_CONFIG_BYTES} bytes")
    return auth


def add_authenticator_msg(sender: str, auth: Authenticator) -> Any:
    return MsgAddAuthenticator(sender=sender, authenticator_type=auth.type, data=auth.config)


def remove_authenticator_msg(sender: str, authenticator_id: int) -> Any:
    return MsgRemoveAuthenticator(sender=sender, id=authenticator_id)


def _sub_bytes(v: Any) -> bytes:
    if isinstance(v, str):
        return base64.b64decode(v)
    if isinstance(v, list):
        return bytes(v)
    return b""


def describe(auth_type: str, config: bytes) -> str:
    """One line a person can read: ``AllOf(SignatureVerification(02ab…), SubaccountFilter(0))``."""
    if auth_type == "SignatureVerification":
        return f"SignatureVerification({config.hex()})"
    if auth_type in ("AllOf", "AnyOf"):
        try:
            items = json.loads(config)
            inner = ", ".join(
                describe(str(i.get("type", "")), _sub_bytes(i.get("config"))) for i in items
            )
        except (ValueError, TypeError, AttributeError):
            return f"{auth_type}(<unreadable config>)"
        return f"{auth_type}({inner})"
    return f"{auth_type}({config.decode('utf-8', errors='replace')})"


def matches(auth_type: str, config: bytes, wanted: Authenticator) -> bool:
    return auth_type == wanted.type and config == wanted.config


# --- selecting an authenticator in a tx (chain.tx.sign_tx) ----------------------------------
def selected_authenticators(authenticator_id: int | None, messages: int) -> tuple[int, ...]:
    """One selected authenticator per message, as the chain requires
    (`x/accountplus/ante/ante.go` GetSelectedAuthenticators); none for the owner's own key."""
    return () if authenticator_id is None else (authenticator_id,) * messages


@lru_cache(maxsize=16)
def tx_extension(authenticators: tuple[int, ...]) -> tuple[Any, ...]:
    """The TxBody's non-critical extension options: ``TxExtension{selected_authenticators}``,
    as the official client's ``TxOptions`` adds it (``node/builder.py``). The messages stay the
    owner's, the SignDoc has the owner's account number, and the signer is the trading key the
    authenticator names (`x/accountplus/lib/authentication_request.go`)."""
    if not authenticators:
        return ()
    ext = TxExtension(selected_authenticators=authenticators)
    return (AnyProto(type_url=TX_EXTENSION_URL, value=ext.SerializeToString()),)
