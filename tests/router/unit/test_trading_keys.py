"""``keys grant`` refuses what the chain would refuse before it writes the trading key: a
subaccount number the chain cannot hold, or an authenticator config over 1024 bytes
(`x/accountplus/types/message_add_authenticator.go`), is a TradingKeyError (the CLI's exit 1,
never a traceback) and no key file is left to block the retry (the file is created O_EXCL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dydx_router import trading_keys
from dydx_router.chain.node import Account
from dydx_router.chain.node.models import TxResult
from dydx_router.chain.wallet import Wallet
from dydx_router.trading_keys import TradingKeyError, grant

OWNER = Wallet(bytes(range(1, 33)))


class FakeNode:
    """The node calls ``grant`` makes, answered in memory; ``sent`` counts the broadcasts."""

    def __init__(self, markets: int) -> None:
        self.specs = {f"M{i}-USD": SimpleNamespace(clob_pair_id=1000 + i) for i in range(markets)}
        self.sent: list[Any] = []

    async def market_specs(self) -> dict[str, Any]:
        return self.specs

    async def account(self, address: str) -> Account:
        return Account(address, 7, 3)

    async def broadcast(self, signed: Any) -> str:
        self.sent.append(signed)
        return str(signed.tx_hash)

    async def get_tx(self, tx_hash: str) -> TxResult:
        return TxResult(tx_hash=tx_hash, height=5, code=0, codespace="", raw_log="")

    async def _call(self, rpc: Any, request: Any) -> Any:
        # GetAuthenticators: the one just added (its config is the broadcast tx's), id 4
        from v4_proto.cosmos.tx.v1beta1.tx_pb2 import Tx
        from v4_proto.dydxprotocol.accountplus.tx_pb2 import MsgAddAuthenticator

        msg = MsgAddAuthenticator()
        Tx.FromString(self.sent[-1].tx_bytes).body.messages[0].Unpack(msg)
        added = SimpleNamespace(id=4, type=msg.authenticator_type, config=msg.data)
        return SimpleNamespace(account_authenticators=[added])


def _grant(node: FakeNode, key_file: Path, markets: list[str], subaccounts: list[int]) -> Any:
    return asyncio.run(
        grant(
            node,  # type: ignore[arg-type]
            OWNER,
            chain_id="test",
            markets=markets,
            subaccounts=subaccounts,
            key_file=key_file,
        )
    )


@pytest.mark.parametrize("subaccounts", [[-1], [0, -5], [128_001], [2**32]])
def test_a_subaccount_the_chain_cannot_hold_writes_no_key(
    tmp_path: Path, subaccounts: list[int]
) -> None:
    node = FakeNode(1)
    key_file = tmp_path / "trading-key"
    with pytest.raises(TradingKeyError, match=r"subaccount numbers must be in 0\.\.128000"):
        _grant(node, key_file, ["M0-USD"], subaccounts)
    assert not key_file.exists()
    assert node.sent == []


def test_a_config_over_1024_bytes_writes_no_key_and_the_retry_works(tmp_path: Path) -> None:
    node = FakeNode(300)
    key_file = tmp_path / "trading-key"
    with pytest.raises(TradingKeyError, match="exceeds 1024 bytes") as refused:
        _grant(node, key_file, sorted(node.specs), [0])
    said = str(refused.value)
    assert "300 markets" in said and "no trading key was written" in said
    assert not key_file.exists()
    assert node.sent == []
    # the same file, fewer markets: granted (a leftover file would have blocked this)
    granted = _grant(node, key_file, ["M0-USD", "M1-USD"], [0, 0, 1])
    assert key_file.exists() and len(key_file.read_text().split()) == 24
    assert granted.authenticator_id == 4
    assert "SubaccountFilter(0,1)" in granted.description
    assert "ClobPairIdFilter(1000,1001)" in granted.description
    assert len(node.sent) == 1


def test_the_cli_refuses_a_negative_subaccount_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A usage error (exit 2), said before the owner's mnemonic is asked for or a node is
    contacted (the node endpoint here does not exist)."""
    from typer.testing import CliRunner

    from dydx_router.cli import app

    monkeypatch.setenv("DYDX_ROUTER_NETWORK", "devnet")
    monkeypatch.setenv("DYDX_ROUTER_NODE_ENDPOINTS", "127.0.0.1:1")
    monkeypatch.setattr(trading_keys, "grant", None)  # never reached
    key_file = tmp_path / "trading-key"
    result = CliRunner().invoke(
        app,
        ["keys", "grant", "--markets", "BTC-USD", "--subaccounts", "0,-1",
         "--key-file", str(key_file)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--subaccounts: subaccount numbers must be in 0..128000; got [-1]" in result.output
    assert "Owner's mnemonic" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not key_file.exists()
