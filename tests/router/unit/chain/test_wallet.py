"""Wallet: derivation, signatures, and that the secret never leaks."""

import copy
import hashlib
import logging
import pickle
import traceback

import ecdsa
import pytest
from pydantic import SecretStr

from dydx_router.chain.errors import InvalidMnemonic
from dydx_router.chain.wallet import Wallet

# The BIP39 test mnemonic; its Cosmos (coin type 118) account 0 address is the well-known
# cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4 (e.g. cosmjs and keplr test suites).
ABANDON = " ".join(["abandon"] * 11 + ["about"])
_N = ecdsa.SECP256k1.order


@pytest.fixture(scope="module")
def wallet() -> Wallet:
    return Wallet.from_mnemonic(SecretStr(ABANDON))


def test_derives_the_standard_cosmos_account(wallet: Wallet) -> None:
    cosmos = Wallet.from_mnemonic(SecretStr(ABANDON), prefix="cosmos")
    assert cosmos.address == "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"
    assert wallet.address == "dydx19rl4cm2hmr8afy4kldpxz3fka4jguq0a4erelz"
    assert wallet.public_key.hex() == (
        "024f4e2ad99c34d60b9ba6283c9431a8418af8673212961f97a77b6377fcd05b62"
    )


def test_extra_whitespace_in_the_mnemonic_is_tolerated(wallet: Wallet) -> None:
    messy = SecretStr("  " + ABANDON.replace(" ", "   \n") + "\n")
    assert Wallet.from_mnemonic(messy).address == wallet.address


def test_signature_is_64_bytes_low_s_and_verifies_with_an_independent_library(
    wallet: Wallet,
) -> None:
    vk = ecdsa.VerifyingKey.from_string(wallet.public_key, curve=ecdsa.SECP256k1)
    for i in range(50):
        doc = f"sign doc {i}".encode()
        sig = wallet.sign(doc)
        assert len(sig) == 64
        assert int.from_bytes(sig[32:], "big") <= _N // 2
        assert vk.verify(sig, doc, hashfunc=hashlib.sha256)


def test_signatures_are_deterministic(wallet: Wallet) -> None:
    assert wallet.sign(b"same") == wallet.sign(b"same")
    assert wallet.sign(b"same") != wallet.sign(b"other")


def test_repr_str_and_logs_show_only_the_address(
    wallet: Wallet, caplog: pytest.LogCaptureFixture
) -> None:
    private_hex = wallet._Wallet__key.to_hex()  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("wallet %s %r", wallet, wallet)
    for text in (repr(wallet), str(wallet), f"{wallet}", caplog.text):
        assert wallet.address in text
        assert "abandon" not in text
        assert private_hex not in text


def test_wallet_cannot_be_pickled_or_copied(wallet: Wallet) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(wallet)
    with pytest.raises(TypeError):
        copy.copy(wallet)
    with pytest.raises(TypeError):
        copy.deepcopy(wallet)


def test_wallet_has_no_instance_dict_to_dump(wallet: Wallet) -> None:
    assert not hasattr(wallet, "__dict__")


# Each bad mnemonic carries a marker word that must not appear anywhere in the error.
@pytest.mark.parametrize(
    ("mnemonic", "expected"),
    [
        (" ".join(["abandon"] * 12), "checksum"),  # 12 valid words, wrong checksum
        (" ".join(["zebra"] * 11), "12, 15, 18, 21 or 24 words; it has 11"),
        (" ".join(["abandon"] * 11 + ["notaword"]), "not in a BIP39 word list"),
        ("", "it has 0"),
    ],
)
def test_bad_mnemonic_fails_clearly_without_echoing_it(mnemonic: str, expected: str) -> None:
    with pytest.raises(InvalidMnemonic) as exc:
        Wallet.from_mnemonic(SecretStr(mnemonic))
    err = exc.value
    assert expected in str(err)
    assert err.code == "invalid_mnemonic"
    rendered = "".join(traceback.format_exception(err))
    for word in set(mnemonic.split()):
        assert word not in str(err)
        assert word not in rendered
    # No library exception (whose text could quote a word) rides along.
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
