"""Helpers shared by the chain integration tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bip_utils import Bip39MnemonicGenerator
from pydantic import SecretStr

from dydx_router.chain.wallet import Wallet

CHAIN_ID = "localdydxprotocol"
T = TypeVar("T")


def wallet_for(name: str) -> Wallet:
    """A fresh, deterministic wallet per test: the session devnet is shared with other suites."""
    entropy = hashlib.sha256(f"chain-integration:{name}".encode()).digest()[:16]
    mnemonic = str(Bip39MnemonicGenerator().FromEntropy(entropy))
    return Wallet.from_mnemonic(SecretStr(mnemonic))


async def eventually(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], *, within: float = 10.0
) -> T:
    """Poll ``probe`` until ``ok`` holds (the indexer follows the chain block by block)."""
    last: Any = None
    async with asyncio.timeout(within):
        while True:
            last = await probe()
            if ok(last):
                return last
            await asyncio.sleep(0.1)
