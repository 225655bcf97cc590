"""A permissioned trading key on the router side: the sequencer signs the owner's messages with
the trading key and the selected authenticator; the authenticator configurations are what the
chain reads (round trip through the devnet's own parser); refusals name their filter; the
settings go together."""

import json

import pytest
from tests.router.unit.chain.test_sequencer import (
    NOW_MS,
    WALLET,
    FakeChain,
    _long_term,
    _short_term,
)
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, TxBody, TxRaw
from v4_proto.dydxprotocol.accountplus.tx_pb2 import TxExtension

from dydx_devnet.accountplus.authenticators import (
    AllOf,
    AnyOf,
    ClobPairIdFilter,
    MessageFilter,
    SignatureVerification,
    SubaccountFilter,
    initialize,
    on_added,
)
from dydx_router.chain import authenticators as auth
from dydx_router.chain.errors import AuthenticatorRefused, Disposition, rejection
from dydx_router.chain.sequencer import SequenceMode, Sequencer
from dydx_router.config import ConfigError, load_settings

OWNER = "dydx1owner0000000000000000000000000000000"  # the fake chain does not check it


def _extension(tx_bytes: bytes) -> list[int]:
    body = TxBody.FromString(TxRaw.FromString(tx_bytes).body_bytes)
    assert [e.type_url for e in body.non_critical_extension_options] == [
        "/dydxprotocol.accountplus.TxExtension"
    ]
    return list(
        TxExtension.FromString(body.non_critical_extension_options[0].value).selected_authenticators
    )


async def test_permissioned_txs_carry_the_authenticator_and_the_trading_key() -> None:
    chain = FakeChain()
    seq = Sequencer(
        chain, WALLET, OWNER, chain_id="localdydxprotocol",  # type: ignore[arg-type]
        mode=SequenceMode.TIMESTAMP_NONCE, clock_ms=lambda: NOW_MS, authenticator_id=7,
    )  # fmt: skip
    for msg in (_short_term(), _long_term()):
        sent = await seq.send([msg])
        assert _extension(sent.tx.tx_bytes) == [7]
        info = AuthInfo.FromString(TxRaw.FromString(sent.tx.tx_bytes).auth_info_bytes)
        assert info.signer_infos[0].public_key.value.endswith(WALLET.public_key)
    assert sent.sequence >= NOW_MS  # the stateful tx took a timestamp nonce
    assert chain.accepted == []  # and consumed no account sequence


async def test_without_an_authenticator_there_is_no_extension() -> None:
    seq = Sequencer(FakeChain(), WALLET, WALLET.address, chain_id="c")  # type: ignore[arg-type]
    sent = await seq.send([_short_term()])
    body = TxBody.FromString(TxRaw.FromString(sent.tx.tx_bytes).body_bytes)
    assert list(body.non_critical_extension_options) == []


def test_the_trading_key_config_is_what_the_chain_reads() -> None:
    a = auth.trading_key(WALLET.public_key, [0, 1], [0])
    assert on_added(a.type, a.config, "0") is True  # a signature on every path
    tree = initialize(a.type, a.config)
    assert isinstance(tree, AllOf)
    sig, any_of, subs, clobs = tree.subs
    assert sig == SignatureVerification(WALLET.public_key)
    assert isinstance(any_of, AnyOf)
    assert [m for m in any_of.subs] == [
        MessageFilter(frozenset({u})) for u in auth.TRADING_MESSAGES
    ]
    assert subs == SubaccountFilter(frozenset({0, 1}))
    assert clobs == ClobPairIdFilter(frozenset({0}))


def test_describe_reads_the_tree_back() -> None:
    a = auth.trading_key(WALLET.public_key, [0], [0, 1])
    text = auth.describe(a.type, a.config)
    assert text.startswith(f"AllOf(SignatureVerification({WALLET.public_key.hex()}), AnyOf(")
    assert text.endswith("SubaccountFilter(0), ClobPairIdFilter(0,1))")
    assert json.loads(a.config)[0]["type"] == "SignatureVerification"


def test_bad_inputs_are_refused_before_anything_is_signed() -> None:
    with pytest.raises(ValueError):
        auth.signature_verification(b"\x02" * 32)
    with pytest.raises(ValueError):
        auth.subaccount_filter([])
    with pytest.raises(ValueError):
        auth.compose("AllOf", [auth.subaccount_filter([0])])


@pytest.mark.parametrize(
    ("needle", "named"),
    [
        ("order id 1 not in whitelist map[0:{}]: Clob pair id verification failed",
         "ClobPairIdFilter"),
        ("subaccount number 1 not in whitelist map[0:{}]: Subaccount verification failed",
         "SubaccountFilter"),
        ("message types do not match: Message type verification failed", "MessageFilter"),
        ("signature verification failed; ...: Signature verification failed",
         "SignatureVerification"),
        ("authenticator 3 not found for account A: Authenticator is not found", "does not exist"),
    ],
)  # fmt: skip
def test_refusals_name_the_filter_and_keep_the_chains_log(needle: str, named: str) -> None:
    log = f"authentication failed for message 0, authenticator id 3, type AllOf: {needle}"
    err = rejection("dydxaccountplus", 104, log)
    assert isinstance(err, AuthenticatorRefused)
    assert err.key == ("dydxaccountplus", 104) and err.disposition is Disposition.DEFINITIVE
    assert err.log.startswith("permissioned key refused: ") and named in err.log
    assert err.log.endswith(log)


def test_smart_accounts_switched_off_is_named() -> None:
    """dydxaccountplus/4 with the bare registered text: the AuthenticatorDecorator's first check
    (`protocol/x/accountplus/ante/ante.go`), as the devnet answers with the flag off."""
    err = rejection("dydxaccountplus", 4, "Smart account is not active")
    assert isinstance(err, AuthenticatorRefused)
    assert err.key == ("dydxaccountplus", 4) and err.name == "ErrSmartAccountNotActive"
    assert err.disposition is Disposition.DEFINITIVE
    assert err.log == (
        "permissioned key refused: smart accounts are disabled on this chain: "
        "Smart account is not active"
    )


def test_owner_and_authenticator_id_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("DYDX_ROUTER_OWNER_ADDRESS", "DYDX_ROUTER_AUTHENTICATOR_ID"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ConfigError, match="go together"):
        load_settings(owner_address=WALLET.address)
    with pytest.raises(ConfigError, match="go together"):
        load_settings(authenticator_id=3)
    s = load_settings(owner_address=WALLET.address, authenticator_id=3)
    assert (s.owner_address, s.authenticator_id) == (WALLET.address, 3)
