"""Where the trading key comes from, and what may see it once read (custody.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from dydx_router.chain.wallet import Wallet, _private_key_from_mnemonic
from dydx_router.config import ConfigError, load_settings
from dydx_router.custody import private_key_from_hex

MNEMONIC = "abandon " * 23 + "art"
KEY = _private_key_from_mnemonic(MNEMONIC)


def test_the_mnemonic_from_a_file_like_a_docker_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "mnemonic"
    secret.write_text(MNEMONIC + "\n")
    monkeypatch.setenv("DYDX_ROUTER_MNEMONIC_FILE", str(secret))
    kind, value = load_settings().trading_key()
    assert (kind, value.get_secret_value()) == ("mnemonic", MNEMONIC)


@pytest.mark.parametrize("form", [KEY.hex(), "0x" + KEY.hex().upper()])
def test_a_raw_hex_private_key_gives_the_same_wallet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, form: str
) -> None:
    monkeypatch.setenv("DYDX_ROUTER_PRIVATE_KEY_HEX", form)
    kind, value = load_settings().trading_key()
    key = private_key_from_hex(value, "DYDX_ROUTER_PRIVATE_KEY_HEX")
    assert kind == "private_key_hex"
    assert Wallet(key).address == Wallet.from_mnemonic(SecretStr(MNEMONIC)).address
    monkeypatch.delenv("DYDX_ROUTER_PRIVATE_KEY_HEX", raising=False)
    (tmp_path / "key").write_text(form)
    monkeypatch.setenv("DYDX_ROUTER_PRIVATE_KEY_HEX_FILE", str(tmp_path / "key"))
    assert load_settings().trading_key()[1].get_secret_value() == form


@pytest.mark.parametrize("bad", ["00" * 32, "ff" * 32, "zz" * 32, "ab" * 31, KEY.hex() + "00"])
def test_a_malformed_hex_key_is_named_never_echoed(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"^DYDX_ROUTER_PRIVATE_KEY_HEX: ") as info:
        private_key_from_hex(SecretStr(bad), "DYDX_ROUTER_PRIVATE_KEY_HEX")
    assert bad not in str(info.value) and bad[:16] not in str(info.value)


def test_one_source_only_and_an_unreadable_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DYDX_ROUTER_MNEMONIC", MNEMONIC)
    monkeypatch.setenv("DYDX_ROUTER_PRIVATE_KEY_HEX", KEY.hex())
    with pytest.raises(ConfigError, match="only one trading key source") as info:
        load_settings().trading_key()
    assert "abandon" not in str(info.value) and KEY.hex() not in str(info.value)
    monkeypatch.delenv("DYDX_ROUTER_MNEMONIC", raising=False)
    monkeypatch.delenv("DYDX_ROUTER_PRIVATE_KEY_HEX", raising=False)
    monkeypatch.setenv("DYDX_ROUTER_MNEMONIC_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"^DYDX_ROUTER_MNEMONIC_FILE: cannot read"):
        load_settings().trading_key()


def test_the_key_leaves_the_environment_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYDX_ROUTER_MNEMONIC", MNEMONIC)
    monkeypatch.setenv("DYDX_ROUTER_PRIVATE_KEY_HEX", KEY.hex())
    settings = load_settings()
    assert "DYDX_ROUTER_MNEMONIC" not in os.environ
    assert "DYDX_ROUTER_PRIVATE_KEY_HEX" not in os.environ
    # A child process started afterwards inherits neither.
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.environ))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DYDX_ROUTER_MNEMONIC" not in child.stdout
    assert "DYDX_ROUTER_PRIVATE_KEY_HEX" not in child.stdout
    assert settings.mnemonic is not None  # the settings object still holds it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_core_dumps_are_disabled() -> None:
    script = (
        "import resource\n"
        "from dydx_router.custody import disable_core_dumps, is_dumpable\n"
        "assert is_dumpable() is True\n"
        "assert disable_core_dumps()\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE), is_dumpable())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "(0, 0) False"
