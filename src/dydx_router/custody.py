"""Custody of the trading key in the process: where it is read from, and what may see it.

- Sources (exactly one): ``DYDX_ROUTER_MNEMONIC`` or ``DYDX_ROUTER_MNEMONIC_FILE`` (a BIP39
  mnemonic), ``DYDX_ROUTER_PRIVATE_KEY_HEX`` or ``DYDX_ROUTER_PRIVATE_KEY_HEX_FILE`` (the raw
  secp256k1 key as 64 hex digits: what dYdX's "export API trading key" gives). The ``_FILE``
  forms are for Docker and Kubernetes secrets, which mount a file.
- The variables holding a key are removed from ``os.environ`` once read, so no child process,
  library or error reporter that reads the environment sees them. (``/proc/<pid>/environ``
  still shows the environment the process was started with: prefer the ``_FILE`` forms.)
- Core dumps are disabled (``RLIMIT_CORE`` 0, and ``PR_SET_DUMPABLE`` 0 on Linux: no core file,
  and other processes of the same user can neither ptrace the service nor read its
  ``/proc/<pid>/environ`` or memory).

Error messages name the setting, never its value.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import sys
from pathlib import Path

from pydantic import SecretStr

from dydx_router.config import ConfigError, Settings

SECRET_VARIABLES = ("DYDX_ROUTER_MNEMONIC", "DYDX_ROUTER_PRIVATE_KEY_HEX")
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_PR_SET_DUMPABLE = 4  # linux/prctl.h
MAX_SECRET_FILE_BYTES = 4096


def read_secret_file(path: Path, setting: str) -> SecretStr:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc.strerror})") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(f"{setting}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{setting}: {path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"{setting}: {path} is empty")
    return SecretStr(text)


def private_key_from_hex(secret: SecretStr, setting: str) -> bytes:
    text = secret.get_secret_value().strip().removeprefix("0x")
    if len(text) != 64:
        raise ConfigError(f"{setting}: must be 64 hex digits (a 32-byte secp256k1 key)")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{setting}: must be 64 hex digits (a 32-byte secp256k1 key)") from None
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_N:
        raise ConfigError(f"{setting}: not a valid secp256k1 private key")
    return key


def scrub_environment() -> None:  # called by config.load_settings
    """Remove the variables that hold a key from this process's environment."""
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)


def disable_core_dumps() -> bool:
    """No core file, and (Linux) not dumpable; True if both took effect."""
    ok = True
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        ok = False
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                ok = False
    return ok


def is_dumpable() -> bool | None:
    """PR_GET_DUMPABLE (Linux), for tests and the start-up log."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE


def trading_key(settings: Settings) -> tuple[str, SecretStr]:
    """(``mnemonic`` | ``private_key_hex``, the secret) from the one source that is set."""
    sources = {
        "DYDX_ROUTER_MNEMONIC": settings.mnemonic
        if settings.mnemonic is not None and settings.mnemonic.get_secret_value().strip()
        else None,
        "DYDX_ROUTER_MNEMONIC_FILE": settings.mnemonic_file,
        "DYDX_ROUTER_PRIVATE_KEY_HEX": settings.private_key_hex
        if settings.private_key_hex is not None and settings.private_key_hex.get_secret_value()
        else None,
        "DYDX_ROUTER_PRIVATE_KEY_HEX_FILE": settings.private_key_hex_file,
    }
    given = [name for name, value in sources.items() if value is not None]
    if not given:
        raise ConfigError(
            "DYDX_ROUTER_MNEMONIC: required (the trading key: set DYDX_ROUTER_MNEMONIC, "
            "DYDX_ROUTER_MNEMONIC_FILE, DYDX_ROUTER_PRIVATE_KEY_HEX or "
            "DYDX_ROUTER_PRIVATE_KEY_HEX_FILE)"
        )
    if len(given) > 1:
        raise ConfigError(f"{given[0]}: set only one trading key source, not {given}")
    name = given[0]
    value = sources[name]
    kind = "mnemonic" if "MNEMONIC" in name else "private_key_hex"
    if isinstance(value, Path):
        return kind, read_secret_file(value, name)
    assert isinstance(value, SecretStr)
    return kind, value
