"""Our permissioned-key txs against the official client's (tests/fixtures/golden_permissioned.json,
written by ``scripts/golden_permissioned.py`` with ``dydx-v4-client==1.1.5``): the owner's grant
(AllOf(SignatureVerification, AnyOf(MessageFilter x3), SubaccountFilter, ClobPairIdFilter)) and
revoke, and orders the trading key signs for the owner with ``TxExtension{selected_authenticators}``
must be byte-identical.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dydx_router.chain import authenticators as auth
from dydx_router.chain import tx
from dydx_router.chain.tx import ChainOrderId, OrderFlags, TimeInForce
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Side

FIXTURE = json.loads(
    (Path(__file__).parents[3] / "fixtures" / "golden_permissioned.json").read_text()
)
VECTORS = {v["name"]: v for v in FIXTURE["vectors"]}


@pytest.fixture(scope="module")
def owner() -> Wallet:
    return Wallet.from_mnemonic(SecretStr(FIXTURE["owner_mnemonic"]))


@pytest.fixture(scope="module")
def trader() -> Wallet:
    return Wallet.from_mnemonic(SecretStr(FIXTURE["trader_mnemonic"]))


def _sign(signer: Wallet, msg: Any, v: dict[str, Any], authenticators: tuple[int, ...]) -> str:
    signed = tx.sign_tx(
        signer,
        [msg],
        chain_id=FIXTURE["chain_id"],
        account_number=FIXTURE["account_number"],
        sequence=v["sequence"],
        memo=FIXTURE["memo"],
        authenticators=authenticators,
    )
    assert signed.tx_hash == v["tx_hash"]
    return signed.tx_bytes.hex()


def test_the_addresses_match(owner: Wallet, trader: Wallet) -> None:
    assert owner.address == FIXTURE["owner_address"]
    assert trader.address == FIXTURE["trader_address"]


@pytest.mark.parametrize("name", [n for n, v in VECTORS.items() if v["kind"] == "grant"])
def test_grant_is_the_official_add_authenticator(name: str, owner: Wallet, trader: Wallet) -> None:
    v = VECTORS[name]
    a = auth.trading_key(trader.public_key, v["subaccounts"], v["clob_pair_ids"])
    assert a.config.decode() == v["data"]
    msg = auth.add_authenticator_msg(owner.address, a)
    assert _sign(owner, msg, v, ()) == v["tx_bytes"]


def test_revoke_is_the_official_remove_authenticator(owner: Wallet) -> None:
    v = VECTORS["revoke"]
    msg = auth.remove_authenticator_msg(owner.address, v["authenticator_id"])
    assert _sign(owner, msg, v, ()) == v["tx_bytes"]


def _oid(v: dict[str, Any]) -> ChainOrderId:
    return ChainOrderId(
        FIXTURE["owner_address"],
        v["subaccount_number"],
        v["client_id"],
        v["clob_pair_id"],
        OrderFlags(v["order_flags"]),
    )


@pytest.mark.parametrize("name", [n for n, v in VECTORS.items() if v["kind"] == "place"])
def test_permissioned_place_is_the_official_tx(name: str, trader: Wallet) -> None:
    v = VECTORS[name]
    msg = tx.place_order(
        _oid(v),
        side=Side.BUY if v["side"] == 1 else Side.SELL,
        quantums=v["quantums"],
        subticks=v["subticks"],
        time_in_force=TimeInForce(v["time_in_force"]),
        good_til_block=v.get("good_til_block"),
        good_til_block_time=v.get("good_til_block_time"),
    )
    authenticators = tx.selected_authenticators(FIXTURE["authenticator_id"], 1)
    assert _sign(trader, msg, v, authenticators) == v["tx_bytes"]


@pytest.mark.parametrize("name", [n for n, v in VECTORS.items() if v["kind"] == "cancel"])
def test_permissioned_cancel_is_the_official_tx(name: str, trader: Wallet) -> None:
    v = VECTORS[name]
    msg = tx.cancel_order(
        _oid(v),
        good_til_block=v.get("good_til_block"),
        good_til_block_time=v.get("good_til_block_time"),
    )
    assert _sign(trader, msg, v, (FIXTURE["authenticator_id"],)) == v["tx_bytes"]


def test_permissioned_batch_cancel_is_the_official_tx(trader: Wallet) -> None:
    v = VECTORS["batch_cancel"]
    msg = tx.batch_cancel(
        FIXTURE["owner_address"],
        v["subaccount_number"],
        {b["clob_pair_id"]: b["client_ids"] for b in v["batches"]},
        good_til_block=v["good_til_block"],
    )
    assert _sign(trader, msg, v, (FIXTURE["authenticator_id"],)) == v["tx_bytes"]


def test_without_authenticators_the_bytes_differ(trader: Wallet) -> None:
    """The extension is what the official client adds: leaving it out is caught here."""
    v = VECTORS["short_term_cancel"]
    msg = tx.cancel_order(_oid(v), good_til_block=v["good_til_block"])
    signed = tx.sign_tx(
        trader, [msg], chain_id=FIXTURE["chain_id"], account_number=FIXTURE["account_number"],
        sequence=0, memo=FIXTURE["memo"],
    )  # fmt: skip
    assert signed.tx_bytes.hex() != v["tx_bytes"]
