"""A router trading with a permissioned key (x/accountplus), end to end over real sockets:
``dydx-router keys grant`` registers a key for BTC-USD on subaccount 0 with the owner's
mnemonic (which the router never gets); the router, holding only the trading key, places and
cancels BTC-USD orders for the owner; ETH-USD and subaccount 1 are refused with the chain's
(codespace, code) and a message naming the filter; after ``keys revoke`` every order is refused.
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr

from dydx_router.chain.node import NodeClient
from dydx_router.chain.wallet import Wallet
from dydx_router.config import NodeEndpoint
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]


def keys_cli(devnet: DevnetProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update({"DYDX_ROUTER_NETWORK": "devnet", "DYDX_ROUTER_NODE_ENDPOINTS": devnet.grpc})
    return subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "keys", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


class Granted:
    def __init__(self, owner: Wallet, owner_file: Path, key_file: Path, stdout: str) -> None:
        self.owner = owner
        self.owner_file = owner_file
        self.key_file = key_file
        self.stdout = stdout
        line = next(x for x in stdout.splitlines() if x.startswith("authenticator id:"))
        self.authenticator_id = int(line.split(":")[1])


@pytest.fixture(scope="module")
def granted(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Granted:
    tmp = tmp_path_factory.mktemp("permissioned")
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    owner = Wallet.from_mnemonic(SecretStr(mnemonic))
    asyncio.run(devnet.fund(owner.address, "100000", 0))
    asyncio.run(devnet.fund(owner.address, "100000", 1))
    owner_file = tmp / "owner.txt"
    owner_file.write_text(mnemonic)
    key_file = tmp / "trading-key.txt"
    r = keys_cli(
        devnet, "grant", "--markets", "BTC-USD", "--subaccounts", "0",
        "--key-file", str(key_file), "--owner-mnemonic-file", str(owner_file),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert mnemonic not in r.stdout + r.stderr
    return Granted(owner, owner_file, key_file, r.stdout)


@pytest.fixture(scope="module")
def prouter(granted: Granted, devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "permissioned") as url:
        r = start_router(
            devnet,
            url,
            "permissioned",
            {
                "DYDX_ROUTER_MNEMONIC": "",  # start_router's own key: unset
                "DYDX_ROUTER_MNEMONIC_FILE": str(granted.key_file),
                "DYDX_ROUTER_OWNER_ADDRESS": granted.owner.address,
                "DYDX_ROUTER_AUTHENTICATOR_ID": str(granted.authenticator_id),
            },
        )
        try:
            yield r
        finally:
            stop_router(r)


def far_limit(c: Any, market: str, **extra: Any) -> dict[str, Any]:
    price = (oracle(c, market) / 2).quantize(Decimal("1"))
    return {"market": market, "side": "BUY", "type": "LIMIT", "size": "0.01",
            "price": str(price), **extra}  # fmt: skip


def test_grant_writes_a_0600_key_and_prints_the_settings(granted: Granted) -> None:
    assert stat.S_IMODE(granted.key_file.stat().st_mode) == 0o600
    assert len(granted.key_file.read_text().split()) == 24
    assert f"DYDX_ROUTER_OWNER_ADDRESS={granted.owner.address}" in granted.stdout
    assert f"DYDX_ROUTER_AUTHENTICATOR_ID={granted.authenticator_id}" in granted.stdout
    assert f"DYDX_ROUTER_MNEMONIC_FILE={granted.key_file.resolve()}" in granted.stdout


def test_keys_list_shows_the_filters(granted: Granted, devnet: DevnetProcess) -> None:
    r = keys_cli(devnet, "list", "--owner", granted.owner.address)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith(f"{granted.authenticator_id} "))
    assert "SubaccountFilter(0)" in line and "ClobPairIdFilter(0)" in line
    assert "MessageFilter(/dydxprotocol.clob.MsgPlaceOrder)" in line


def test_short_term_btc_is_placed_and_cancelled_for_the_owner(
    prouter: RouterProcess, granted: Granted
) -> None:
    with prouter.client() as c:
        resp = place(c, far_limit(c, "BTC-USD", good_til_blocks=20))
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["status"] in ("SUBMITTED", "OPEN"), order
        assert order["chain"]["owner"] == granted.owner.address
        assert '"authenticator_found"' in prouter.log_path.read_text()
        cancel = c.delete(f"/v1/orders/{order['id']}")
        assert cancel.status_code == 200, cancel.text
        wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "CANCELED")


def owner_sequence(devnet: DevnetProcess, address: str) -> int:
    async def run() -> int:
        async with NodeClient([NodeEndpoint.parse(devnet.grpc)]) as node:
            return (await node.account(address)).sequence

    return asyncio.run(run())


def test_long_term_btc_uses_timestamp_nonces(
    prouter: RouterProcess, granted: Granted, devnet: DevnetProcess
) -> None:
    before = owner_sequence(devnet, granted.owner.address)
    with prouter.client() as c:
        resp = place(c, far_limit(c, "BTC-USD", good_til_seconds=600))
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["chain"]["order_flags"] == 64
        wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "OPEN")
        assert c.delete(f"/v1/orders/{order['id']}").status_code == 200
        wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "CANCELED")
    # both stateful txs took timestamp nonces: the owner's own sequence is untouched
    assert owner_sequence(devnet, granted.owner.address) == before


def _refused(c: Any, body: dict[str, Any]) -> dict[str, Any]:
    resp = place(c, body)
    assert resp.status_code == 201, resp.text
    order: dict[str, Any] = resp.json()
    assert order["status"] == "REJECTED", order
    return order


def test_eth_is_refused_by_the_clob_pair_filter(prouter: RouterProcess) -> None:
    with prouter.client() as c:
        order = _refused(c, far_limit(c, "ETH-USD", good_til_blocks=20))
        err = order["error"]
        assert (err["codespace"], err["code"]) == ("dydxaccountplus", 104)
        assert "ClobPairIdFilter" in err["log"]
        assert "Clob pair id verification failed" in err["log"]


def test_subaccount_1_is_refused_by_the_subaccount_filter(prouter: RouterProcess) -> None:
    with prouter.client() as c:
        order = _refused(c, far_limit(c, "BTC-USD", good_til_blocks=20, subaccount=1))
        err = order["error"]
        assert (err["codespace"], err["code"]) == ("dydxaccountplus", 104)
        assert "SubaccountFilter" in err["log"]


def test_after_revoke_every_order_is_refused(
    granted: Granted, prouter: RouterProcess, devnet: DevnetProcess, pg_server_url: str
) -> None:
    r = keys_cli(
        devnet, "revoke", str(granted.authenticator_id),
        "--owner-mnemonic-file", str(granted.owner_file),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with prouter.client() as c:
        for body in (
            far_limit(c, "BTC-USD", good_til_blocks=20),
            far_limit(c, "BTC-USD", good_til_seconds=600),
        ):
            err = _refused(c, body)["error"]
            assert (err["codespace"], err["code"]) == ("dydxaccountplus", 1)
            assert "does not exist" in err["log"]
    # a router started with the revoked id says so at start-up
    with fresh_database(pg_server_url, "revoked") as url:
        again = start_router(
            devnet, url, "revoked",
            {
                "DYDX_ROUTER_MNEMONIC": "",  # start_router's own key: unset
                "DYDX_ROUTER_MNEMONIC_FILE": str(granted.key_file),
                "DYDX_ROUTER_OWNER_ADDRESS": granted.owner.address,
                "DYDX_ROUTER_AUTHENTICATOR_ID": str(granted.authenticator_id),
            },
        )  # fmt: skip
        try:
            assert '"authenticator_not_found"' in again.log_path.read_text()
        finally:
            stop_router(again)


def test_the_owners_mnemonic_can_come_from_a_prompt(
    granted: Granted, devnet: DevnetProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --owner-mnemonic-file the mnemonic is prompted for once, hidden, and not echoed."""
    from typer.testing import CliRunner

    from dydx_router.cli import app

    for k in [k for k in os.environ if k.startswith("DYDX_ROUTER_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("DYDX_ROUTER_NETWORK", "devnet")
    monkeypatch.setenv("DYDX_ROUTER_NODE_ENDPOINTS", devnet.grpc)
    mnemonic = granted.owner_file.read_text()
    result = CliRunner().invoke(
        app,
        ["keys", "grant", "--markets", "SOL-USD", "--key-file", str(tmp_path / "k2")],
        input=mnemonic + "\n",
    )
    assert result.exit_code == 0, result.output
    assert mnemonic.split()[0] + " " + mnemonic.split()[1] not in result.output
    assert "ClobPairIdFilter(5)" in result.output  # SOL-USD is clob pair 5 (mainnet genesis)


def test_grant_creates_the_key_files_directory(granted: Granted, devnet: DevnetProcess) -> None:
    """``--key-file ~/.dydx-router/trading-key`` on a fresh machine (the walkthrough's command):
    the missing directory is created 0700, not a traceback."""
    key_file = granted.owner_file.parent / "fresh-home" / ".dydx-router" / "trading-key"
    r = keys_cli(
        devnet, "grant", "--markets", "BTC-USD", "--key-file", str(key_file),
        "--owner-mnemonic-file", str(granted.owner_file),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert "authenticator id:" in r.stdout


def test_grant_for_an_unfunded_owner_writes_no_key(devnet: DevnetProcess, tmp_path: Path) -> None:
    """An owner the chain does not know can sign nothing: a plain error naming the address, and
    no key file left behind to block the retry once the owner is funded."""
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    owner = Wallet.from_mnemonic(SecretStr(mnemonic))
    (tmp_path / "owner").write_text(mnemonic)
    key_file = tmp_path / "trading-key"
    args = ("grant", "--markets", "BTC-USD", "--key-file", str(key_file),
            "--owner-mnemonic-file", str(tmp_path / "owner"))  # fmt: skip
    r = keys_cli(devnet, *args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"the owner's account {owner.address} does not exist on chain" in r.stderr
    assert "Traceback" not in r.stderr
    assert not key_file.exists()
    asyncio.run(devnet.fund(owner.address, "1000", 0))
    again = keys_cli(devnet, *args)
    assert again.returncode == 0, again.stderr
    assert key_file.exists()


def test_revoking_an_id_the_owner_does_not_have_sends_nothing(
    granted: Granted, devnet: DevnetProcess
) -> None:
    before = owner_sequence(devnet, granted.owner.address)
    r = keys_cli(
        devnet, "revoke", "999999", "--owner-mnemonic-file", str(granted.owner_file)
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{granted.owner.address} has no authenticator 999999" in r.stderr
    assert "permissioned key refused" not in r.stderr  # the owner's own tx, not a trading key's
    assert owner_sequence(devnet, granted.owner.address) == before
