"""The account an exchange trades for: the owner's for a permissioned key, else the signer's own;
derived from the key once, not on every order (bech32 in pure Python was 5 % of the router's CPU
under load when each read derived it)."""

from __future__ import annotations

from typing import Any

import pytest

from dydx_router.chain import accounts
from dydx_router.chain.gateway import DydxExchange
from dydx_router.chain.wallet import Wallet, address_of

KEY = bytes(range(1, 33))


def exchange(wallet: Wallet, owner: str | None = None) -> DydxExchange:
    none: Any = None
    return DydxExchange(
        node=none,
        indexer=none,
        wallet=wallet,
        sequencer=none,
        heights=none,
        chain_id="test",
        owner_address=owner,
    )


def test_the_signers_address_is_derived_once(monkeypatch: pytest.MonkeyPatch) -> None:
    wallet = Wallet(KEY)
    calls: list[bytes] = []

    def counting(public_key: bytes) -> str:
        calls.append(public_key)
        return address_of(public_key)

    monkeypatch.setattr(accounts, "address_of", counting)
    ex = exchange(wallet)
    assert [ex.address for _ in range(100)] == [wallet.address] * 100
    assert calls == [wallet.public_key]


def test_a_permissioned_key_trades_for_the_owner() -> None:
    owner = Wallet(bytes(range(2, 34))).address
    ex = exchange(Wallet(KEY), owner)
    assert ex.address == owner != Wallet(KEY).address
