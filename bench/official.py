"""The official ``dydx-v4-client`` behind a thin HTTP wrapper (``bench/official_wrapper.py``),
started against a running devnet with a wallet of its own, for the same load as the router."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr
from tests.fixtures.devnet import DevnetProcess

from dydx_router.chain.wallet import Wallet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from official_client_venv import official_python  # noqa: E402


@contextlib.contextmanager
def official_wrapper(devnet: DevnetProcess, funds_usdc: str) -> Iterator[tuple[str, int]]:
    """The wrapper's URL and pid; its process is stopped on exit."""
    python = official_python()
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    address = Wallet.from_mnemonic(SecretStr(mnemonic)).address
    asyncio.run(devnet.fund(address, funds_usdc))
    log_path = ROOT / ".local" / f"bench-official-{os.getpid()}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(python),
                str(ROOT / "bench" / "official_wrapper.py"),
                "--grpc", devnet.grpc, "--indexer", devnet.indexer, "--mnemonic", mnemonic,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the wrapper exited: {log_path.read_text()[-2000:]}")
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline().decode()
                if line.startswith("WRAPPER READY "):
                    url = line.split()[2]
        if url is None:
            raise RuntimeError("the official client wrapper did not start")
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
