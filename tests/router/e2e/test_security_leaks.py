"""Secret hygiene end to end: the mnemonic, the private key and API keys never reach a log line or
a response, through normal use, refusals, chain failures and a bad key at start-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39MnemonicValidator, Bip39WordsNum
from pydantic import SecretStr

from dydx_router.chain.wallet import Wallet, _private_key_from_mnemonic
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import ROOT, RouterProcess, start_router, stop_router
from tests.router.e2e.test_orders import place

pytestmark = pytest.mark.e2e
MNEMONIC = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
KEY_HEX = _private_key_from_mnemonic(MNEMONIC).hex()


def forbidden(api_keys: list[str]) -> list[str]:
    words = MNEMONIC.split()
    chunks = [" ".join(words[i : i + 3]) for i in range(0, len(words) - 2, 3)]
    return [MNEMONIC, KEY_HEX, KEY_HEX.upper(), *chunks, *api_keys]


@pytest.fixture(scope="module")
def leaky(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    address = Wallet.from_mnemonic(SecretStr(MNEMONIC)).address
    asyncio.run(devnet.fund(address, "100000"))
    with fresh_database(pg_server_url, "leaks") as url:
        r = start_router(
            devnet,
            url,
            "leaks",
            {"DYDX_ROUTER_MNEMONIC": MNEMONIC, "DYDX_ROUTER_LOG_LEVEL": "DEBUG"},
        )
        try:
            yield r
        finally:
            stop_router(r)
            asyncio.run(devnet.reset_faults())


def test_no_secret_in_logs_or_responses(leaky: RouterProcess) -> None:
    responses: list[httpx.Response] = []
    issued = [leaky.api_key]
    order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
    with leaky.client() as c:
        responses.append(c.get("/v1/markets"))
        created = c.post("/v1/admin/api-keys", json={"name": "k", "scopes": ["read", "trade"]})
        assert created.status_code == 201
        issued.append(created.json()["key"])
        ok = place(c, order)
        assert ok.status_code == 201, ok.text
        responses.append(ok)
        # Secrets where they do not belong: as a bearer token, a query value, a field name.
        for token in (MNEMONIC, KEY_HEX):
            responses.append(
                httpx.get(leaky.url + "/v1/orders", headers={"Authorization": f"Bearer {token}"})
            )
        responses.append(c.get("/v1/orders", params={"market": MNEMONIC}))
        responses.append(c.get("/v1/orders", params={"cursor": KEY_HEX}))
        responses.append(place(c, order | {MNEMONIC: KEY_HEX}))
        # A value the caller chose to store is echoed back to it by design; the log keeps none.
        assert place(c, order | {"client_order_id": KEY_HEX}).status_code == 201
        # The chain refuses, then stops answering: failures are logged, keys are not.
        asyncio.run(
            leaky.devnet.set_faults(
                broadcast_error={
                    "codespace": "clob",
                    "code": 2003,
                    "raw_log": "crossed",
                    "times": 1,
                }
            )
        )
        responses.append(place(c, order))
        asyncio.run(leaky.devnet.set_faults(grpc_unavailable=True))
        try:
            responses.append(place(c, order))
            responses.append(c.get("/v1/positions"))
        finally:
            asyncio.run(leaky.devnet.reset_faults())
    codes = [r.status_code for r in responses]
    assert 401 in codes and 422 in codes and 201 in codes
    assert any(code >= 500 or code == 202 for code in codes), codes  # a failure was exercised
    for r in responses:
        for secret in forbidden(issued):
            assert secret not in r.text, f"a secret reached a {r.status_code} response"
    stop_router(leaky)  # flush and close the log
    log = leaky.log_path.read_text()
    assert "wallet_loaded" in log and "order_status" in log and "SUBMITTED" in log
    leaks = [i for i, secret in enumerate(forbidden(issued)) if secret in log]
    assert not leaks, f"secrets #{leaks} reached the log"


@pytest.mark.parametrize("problem", ["checksum", "word"])
def test_a_bad_mnemonic_is_refused_without_echoing_it(pg_server_url: str, problem: str) -> None:
    words = MNEMONIC.split()
    # A 24-word phrase's checksum is 8 bits: one replacement last word in 256 still passes it
    # (the mnemonic is random per run), so take the first of the phrase's words that fails it.
    bad = next(
        cand
        for w in words
        if w != words[-1]
        and not Bip39MnemonicValidator().IsValid(" ".join(cand := [*words[:-1], w]))
    )
    if problem == "word":
        bad = ["zzzzzz", *words[1:]]
    phrase = " ".join(bad)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env |= {"DYDX_ROUTER_MNEMONIC": phrase, "DATABASE_URL": pg_server_url}
    done = subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "mnemonic" in out.lower()
    assert phrase not in out
    assert not any(" ".join(bad[i : i + 3]) in out for i in range(len(bad) - 2))
