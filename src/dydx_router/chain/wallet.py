"""The trading key: BIP39 mnemonic → secp256k1 key → ``dydx1…`` address, and the signer.

Derivation follows the Cosmos convention the official clients use (``dydx_v4_client/key_pair.py``,
``wallet.py``): BIP44 path m/44'/118'/0'/0/0, compressed public key, address =
bech32("dydx", ripemd160(sha256(pubkey))). The crypto is bip-utils and libsecp256k1 (coincurve);
nothing here is home-made.

The mnemonic and the private key never leave this module: the mnemonic is read once from its
``SecretStr`` and dropped, the key lives in a private slot, ``repr`` shows only the address, a
wallet cannot be pickled or copied, and every error message is written here without the input.
"""

from __future__ import annotations

from typing import Any, NoReturn

from bip_utils import (
    AtomAddrEncoder,
    Bip39MnemonicValidator,
    Bip39SeedGenerator,
    Bip44,
    Bip44Coins,
    MnemonicChecksumError,
)
from coincurve import PrivateKey
from pydantic import SecretStr

from dydx_router.chain.errors import InvalidMnemonic

ADDRESS_PREFIX = "dydx"
# BIP39 allows 12..24 words in steps of 3 (128..256 bits of entropy).
_VALID_WORD_COUNTS = (12, 15, 18, 21, 24)
# secp256k1 group order; Cosmos rejects high-S signatures (cosmos-sdk crypto/keys/secp256k1).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2


def _private_key_from_mnemonic(mnemonic: str) -> bytes:
    words = mnemonic.split()
    if len(words) not in _VALID_WORD_COUNTS:
        raise InvalidMnemonic(
            f"the mnemonic must have 12, 15, 18, 21 or 24 words; it has {len(words)}"
        )
    phrase = " ".join(words)
    # Errors from bip-utils are replaced (``from None``) so no library message, which could
    # quote a word, travels with the exception or its traceback.
    try:
        Bip39MnemonicValidator().Validate(phrase)
    except MnemonicChecksumError:
        raise InvalidMnemonic("the mnemonic's BIP39 checksum is invalid") from None
    except ValueError:
        raise InvalidMnemonic(
            "the mnemonic contains words that are not in a BIP39 word list"
        ) from None
    seed = Bip39SeedGenerator(phrase).Generate()
    node = Bip44.FromSeed(seed, Bip44Coins.COSMOS).DeriveDefaultPath()  # m/44'/118'/0'/0/0
    raw: bytes = node.PrivateKey().Raw().ToBytes()
    return raw


def address_of(public_key: bytes, prefix: str = ADDRESS_PREFIX) -> str:
    """bech32(prefix, ripemd160(sha256(compressed_pubkey)))."""
    address: str = AtomAddrEncoder.EncodeKey(public_key, hrp=prefix)
    return address


class Wallet:
    """A secp256k1 signer for one dYdX address."""

    __slots__ = ("__key", "address", "public_key")

    address: str
    public_key: bytes  # 33-byte compressed secp256k1 point

    def __init__(self, private_key: bytes, *, prefix: str = ADDRESS_PREFIX) -> None:
        self.__key = PrivateKey(private_key)
        self.public_key = self.__key.public_key.format(compressed=True)
        self.address = address_of(self.public_key, prefix)

    @classmethod
    def from_mnemonic(cls, mnemonic: SecretStr, *, prefix: str = ADDRESS_PREFIX) -> Wallet:
        """Derive the wallet; a malformed mnemonic raises ``InvalidMnemonic`` (never echoed)."""
        return cls(_private_key_from_mnemonic(mnemonic.get_secret_value()), prefix=prefix)

    def sign(self, sign_doc: bytes) -> bytes:
        """64-byte r‖s ECDSA signature over sha256(sign_doc), low-S, RFC 6979 deterministic."""
        signature: bytes = self.__key.sign_recoverable(sign_doc)  # hasher: sha256
        s = int.from_bytes(signature[32:64], "big")
        if s > _HALF_N:  # libsecp256k1 already normalises; this keeps the rule explicit.
            return signature[:32] + (_SECP256K1_N - s).to_bytes(32, "big")
        return signature[:64]

    def __repr__(self) -> str:
        return f"Wallet(address={self.address!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Wallet holds a private key and cannot be pickled or copied")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Wallet holds a private key and cannot be copied")

    def __deepcopy__(self, memo: Any) -> NoReturn:
        raise TypeError("a Wallet holds a private key and cannot be copied")
