"""Permissioned trading keys: grant, list and revoke x/accountplus authenticators for an owner.

The owner's key is used for these three operations only (it signs MsgAddAuthenticator /
MsgRemoveAuthenticator) and is never written anywhere. ``grant`` checks its inputs and builds
the authenticator first, then creates a fresh trading key (a 24-word BIP39 mnemonic, written to
a new 0600 file before anything is sent: a refusal before that point leaves no file), registers
``chain.authenticators.trading_key`` for it, waits until a block holds the tx, and finds the
authenticator id the chain assigned (MsgAddAuthenticatorResponse carries none: the id is that of
the owner's authenticator with exactly this config, the highest if several).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_query
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_grpc

from dydx_router.chain import authenticators as auth
from dydx_router.chain.errors import (
    AccountNotFound,
    ChainError,
    ChainRejected,
    TxNotFound,
    rejection,
)
from dydx_router.chain.messages import MAX_SUBACCOUNT_NUMBER
from dydx_router.chain.node import Account, NodeClient
from dydx_router.chain.tx import Signer, sign_tx
from dydx_router.chain.wallet import Wallet, address_of

log = structlog.get_logger(__name__)
COMMIT_TIMEOUT_S = 60.0
_POLL_S = 0.25


class TradingKeyError(Exception):
    """A grant, list or revoke that cannot go on; the message says why (never a secret)."""


@dataclass(frozen=True, slots=True)
class StoredAuthenticator:
    id: int
    type: str
    config: bytes

    @property
    def description(self) -> str:
        return auth.describe(self.type, self.config)


@dataclass(frozen=True, slots=True)
class Granted:
    authenticator_id: int
    owner_address: str
    trading_address: str
    key_file: Path
    tx_hash: str
    description: str


async def authenticators(node: NodeClient, owner_address: str) -> list[StoredAuthenticator]:
    """`dydxprotocol.accountplus.Query/GetAuthenticators`, through the node client's failover
    and retries (a stub on the endpoint's channel)."""
    resp = await node._call(
        lambda s: ap_grpc.QueryStub(s.channel).GetAuthenticators,
        ap_query.GetAuthenticatorsRequest(account=owner_address),
    )
    return [StoredAuthenticator(a.id, a.type, bytes(a.config)) for a in resp.account_authenticators]


async def _owner_account(node: NodeClient, owner: Wallet) -> Account:
    """The owner's account number and sequence. An account the chain does not know (never
    funded) can sign nothing: said plainly, before a trading key is written."""
    try:
        return await node.account(owner.address)
    except AccountNotFound:
        raise TradingKeyError(
            f"the owner's account {owner.address} does not exist on chain: fund it (a deposit or "
            "a transfer) before granting or revoking a key; no trading key was written"
        ) from None


async def _send_and_commit(
    node: NodeClient,
    owner: Wallet,
    msg: Any,
    *,
    chain_id: str,
    timeout_s: float,
    account: Account | None = None,
) -> str:
    """Sign with the owner's account sequence, broadcast, and wait for the block's result."""
    account = account or await _owner_account(node, owner)
    signed = sign_tx(
        owner,
        [msg],
        chain_id=chain_id,
        account_number=account.account_number,
        sequence=account.sequence,
        memo="dydx-router keys",
    )
    await node.broadcast(signed)  # a CheckTx refusal raises here
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = await node.get_tx(signed.tx_hash)
        except TxNotFound:
            if time.monotonic() > deadline:
                raise TradingKeyError(
                    f"tx {signed.tx_hash} was accepted but no block holds it after "
                    f"{timeout_s:.0f} s; check `dydx-router keys list` before retrying"
                ) from None
            await asyncio.sleep(_POLL_S)
            continue
        if result.code != 0:
            raise rejection(result.codespace, result.code, result.raw_log, tx_hash=signed.tx_hash)
        return signed.tx_hash


def _fresh_mnemonic() -> str:
    return str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))


def _write_key_file(key_file: Path, mnemonic: str) -> None:
    """``mnemonic`` to ``key_file`` (created 0600, never overwritten); missing parent
    directories are created 0700 (``~/.dydx-router/trading-key`` on a fresh machine)."""
    try:
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TradingKeyError(f"{key_file} exists: choose a new file for the trading key") from None
    except OSError as exc:
        raise TradingKeyError(f"cannot create {key_file}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(mnemonic + "\n")


def new_trading_key(key_file: Path) -> Wallet:
    """A fresh mnemonic written to ``key_file`` (see ``_write_key_file``)."""
    mnemonic = _fresh_mnemonic()
    _write_key_file(key_file, mnemonic)
    return Wallet.from_mnemonic(SecretStr(mnemonic))


def subaccount_numbers(values: Sequence[int]) -> list[int]:
    """Sorted, distinct subaccount numbers, each one the chain can hold (0..128000,
    `protocol/x/subaccounts/types/subaccount.go` MaxSubaccountIdNumber; the SubaccountFilter
    itself would take any uint32, `x/accountplus/authenticator/subaccount_filter.go`)."""
    bad = sorted({v for v in values if not 0 <= v <= MAX_SUBACCOUNT_NUMBER})
    if bad:
        raise TradingKeyError(
            f"subaccount numbers must be in 0..{MAX_SUBACCOUNT_NUMBER}; got {bad}; "
            "no trading key was written"
        )
    return sorted(set(values))


def _authenticator(
    public_key: bytes, subaccounts: Sequence[int], clob_ids: Sequence[int]
) -> auth.Authenticator:
    """The trading key's authenticator, or a TradingKeyError saying why the chain would refuse
    it (e.g. a config over 1024 bytes, `types/message_add_authenticator.go`)."""
    try:
        return auth.trading_key(public_key, subaccounts, clob_ids)
    except ValueError as exc:
        raise TradingKeyError(
            f"cannot build the authenticator ({len(clob_ids)} markets, {len(subaccounts)} "
            f"subaccounts): {exc}; grant fewer markets or subaccounts per key; "
            "no trading key was written"
        ) from None


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


async def grant(
    node: NodeClient,
    owner: Wallet,
    *,
    chain_id: str,
    markets: Sequence[str],
    subaccounts: Sequence[int],
    key_file: Path,
    timeout_s: float = COMMIT_TIMEOUT_S,
) -> Granted:
    # Everything that can refuse the grant runs before the key file is created: a refusal
    # leaves nothing behind, so the same command can be run again (the file is O_EXCL).
    if not markets or not subaccounts:
        raise TradingKeyError("a trading key needs at least one market and one subaccount")
    subs = subaccount_numbers(subaccounts)
    specs = await node.market_specs()
    unknown = sorted(set(markets) - set(specs))
    if unknown:
        raise TradingKeyError(f"unknown markets {unknown} (known: {', '.join(sorted(specs))})")
    clob_ids = sorted({specs[m].clob_pair_id for m in markets})
    mnemonic = await asyncio.to_thread(_fresh_mnemonic)  # in memory until the checks pass
    trader = Wallet.from_mnemonic(SecretStr(mnemonic))
    wanted = _authenticator(trader.public_key, subs, clob_ids)
    account = await _owner_account(node, owner)
    await asyncio.to_thread(_write_key_file, key_file, mnemonic)
    try:
        tx_hash = await _send_and_commit(
            node,
            owner,
            auth.add_authenticator_msg(owner.address, wanted),
            chain_id=chain_id,
            timeout_s=timeout_s,
            account=account,
        )
    except ChainRejected:
        # Definitively refused: the key can never be used, so it is not left behind.
        await asyncio.to_thread(_remove, key_file)
        raise
    found = [a for a in await authenticators(node, owner.address) if a.config == wanted.config]
    if not found:
        raise TradingKeyError(f"tx {tx_hash} committed but the authenticator is not listed")
    best = max(found, key=lambda a: a.id)
    return Granted(best.id, owner.address, trader.address, key_file, tx_hash, best.description)


async def revoke(
    node: NodeClient,
    owner: Wallet,
    authenticator_id: int,
    *,
    chain_id: str,
    timeout_s: float = COMMIT_TIMEOUT_S,
) -> str:
    """MsgRemoveAuthenticator signed by the owner. An id the owner does not have is said before
    a tx is sent (the chain would refuse it in the block with dydxaccountplus/1)."""
    account = await _owner_account(node, owner)
    if authenticator_id not in {a.id for a in await authenticators(node, owner.address)}:
        raise TradingKeyError(
            f"{owner.address} has no authenticator {authenticator_id}; see "
            f"`dydx-router keys list --owner {owner.address}`"
        )
    return await _send_and_commit(
        node,
        owner,
        auth.remove_authenticator_msg(owner.address, authenticator_id),
        chain_id=chain_id,
        timeout_s=timeout_s,
        account=account,
    )


async def check_configured(
    node: NodeClient, owner: str, authenticator_id: int, wallet: Signer
) -> None:
    """Say at start-up when the configured authenticator is missing (revoked, or a wrong id):
    every order would be refused with dydxaccountplus/1. A node that cannot answer is not a
    verdict; the chain stays the judge of every order either way."""
    try:
        found = {a.id: a for a in await authenticators(node, owner)}
    except ChainError as e:
        log.warning("authenticator_check_failed", owner=owner, error=str(e))
        return
    a = found.get(authenticator_id)
    if a is None:
        log.error(
            "authenticator_not_found",
            owner=owner,
            authenticator_id=authenticator_id,
            hint="every order will be refused (dydxaccountplus/1); see dydx-router keys list",
        )
    elif wallet.public_key.hex() not in a.description:
        log.error(
            "authenticator_names_another_key",
            owner=owner,
            authenticator_id=authenticator_id,
            signer=address_of(wallet.public_key),
        )
    else:
        log.info("authenticator_found", owner=owner, authenticator=a.description)


__all__ = [
    "ChainError",
    "Granted",
    "StoredAuthenticator",
    "TradingKeyError",
    "authenticators",
    "check_configured",
    "grant",
    "new_trading_key",
    "revoke",
    "subaccount_numbers",
]
