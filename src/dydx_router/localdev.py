"""Local development environment behind ``make run``, ``make dev-up`` and ``make dev-down``.

- The database: ``DATABASE_URL`` when set (nothing is started), otherwise the embedded PostgreSQL
  with its data in ``.local/pgdata``.
- The devnet: ``python -m dydx_devnet`` on its default ports, funding the router's wallet.
- The trading key: ``DYDX_ROUTER_MNEMONIC`` when set, otherwise a demo mnemonic generated once and
  kept in ``.local/demo-mnemonic`` (mode 0600; devnet only).
- A demo API key with every scope, created on first run and kept in ``.local/demo-api-key``
  (mode 0600 from creation), only on the devnet with the embedded database.

Everything started is recorded in ``.local/dev-up.json`` so ``dev-down`` stops exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dydx_router.extras import check
from dydx_router.store.database import connect
from dydx_router.store.embedded import EmbeddedPostgres, with_database

DATABASE_NAME = "dydx_router"
DEMO_FUNDS_USDC = "1000000"


def local_dir() -> Path:
    path = Path(os.environ.get("DYDX_ROUTER_LOCAL_DIR", ".local")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


async def ensure_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server if missing; return its URL."""
    conn = await connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


@dataclass
class Database:
    url: str
    embedded: EmbeddedPostgres | None = None


def start_database(*, keep_running: bool = False) -> Database:
    external = os.environ.get("DATABASE_URL")
    if external:
        return Database(url=external)
    server = EmbeddedPostgres(local_dir() / "pgdata", keep_running=keep_running)
    admin_url = server.start()
    url = asyncio.run(ensure_database(admin_url, DATABASE_NAME))
    return Database(url=url, embedded=server)


def demo_mnemonic() -> str:
    """The configured mnemonic, or a demo one generated once for the devnet."""
    configured = os.environ.get("DYDX_ROUTER_MNEMONIC")
    if configured:
        return configured
    path = local_dir() / "demo-mnemonic"
    if not path.exists():
        from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum

        words = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(words + "\n")
    return path.read_text().strip()


@dataclass
class Devnet:
    process: subprocess.Popen[bytes]
    grpc: str  # validator 0
    indexer: str
    ws: str
    admin: str
    log_path: Path
    grpcs: tuple[str, ...] = ()  # every validator (``--validators N``), validator 0 first
    rpcs: tuple[str, ...] = ()  # every validator's CometBFT RPC URL (``--rpc-port``)

    @property
    def node_endpoints(self) -> str:
        """Every validator's gRPC address, comma-separated (``DYDX_ROUTER_NODE_ENDPOINTS``)."""
        return ",".join(self.grpcs or (self.grpc,))

    def stop(self) -> None:
        stop_pid(self.process.pid)


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        # Reap if it is our child.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def parse_ready_line(line: str) -> dict[str, str] | None:
    if not line.startswith("DEVNET READY"):
        return None
    return dict(part.split("=", 1) for part in line.split()[2:] if "=" in part)


@dataclass
class DevnetLaunch:
    """A devnet process started but not yet known to be ready (``wait_ready``)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        stop_pid(self.process.pid)


def launch_devnet(
    fund: dict[str, str], extra_args: list[str], *, log_path: Path | None = None
) -> DevnetLaunch:
    """Start ``python -m dydx_devnet`` in its own process group; return without waiting, so
    that the database can start meanwhile (``make run``)."""
    check("dydx_devnet", "devnet", "the local devnet")
    log_path = log_path or local_dir() / "devnet.log"
    args = [sys.executable, "-m", "dydx_devnet"]
    for address, amount in fund.items():
        args += ["--fund", f"{address}={amount}"]
    args += extra_args
    log = log_path.open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return DevnetLaunch(process, log_path)


def wait_ready(launch: DevnetLaunch, *, timeout: float = 60.0) -> Devnet:
    """Wait for the devnet's READY line; stop it if it does not come within ``timeout``."""
    process, log_path = launch.process, launch.log_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Waiting on the process paces the loop and notices at once if it exits.
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.1)
        if process.poll() is not None:
            raise RuntimeError(f"the devnet exited with {process.returncode}; see {log_path}")
        for line in log_path.read_text(errors="replace").splitlines():
            ready = parse_ready_line(line)
            if ready:
                grpcs = tuple(t for t in ready["grpc"].split(",") if t)
                return Devnet(
                    process,
                    grpcs[0],
                    ready["indexer"],
                    ready["ws"],
                    ready.get("admin", ""),
                    log_path,
                    grpcs,
                    tuple(u for u in ready.get("rpc", "").split(",") if u),
                )
    stop_pid(process.pid)
    raise RuntimeError(f"the devnet did not become ready within {timeout:.0f}s; see {log_path}")


def start_devnet(
    fund: dict[str, str],
    extra_args: list[str],
    *,
    timeout: float = 60.0,
    log_path: Path | None = None,
) -> Devnet:
    """Start ``python -m dydx_devnet`` in its own process group and wait for its READY line."""
    return wait_ready(launch_devnet(fund, extra_args, log_path=log_path), timeout=timeout)


def wallet_address(mnemonic: str) -> str:
    from pydantic import SecretStr

    from dydx_router.chain.wallet import Wallet

    return Wallet.from_mnemonic(SecretStr(mnemonic)).address


async def ensure_demo_api_key(database_url: str) -> str:
    """The demo key (all scopes), created on first run; re-created if it no longer works."""
    from dydx_router.store.api_keys import ApiKeyRepository

    path = local_dir() / "demo-api-key"
    conn = await connect(database_url)
    try:
        repo = ApiKeyRepository(conn)
        if path.exists():
            key = path.read_text().strip()
            if await repo.authenticate(key) is not None:
                return key
        _, key = await repo.create("demo", {"read", "trade", "admin"})
    finally:
        await conn.close()
    write_private(path, key + "\n")
    return key


def may_mint_demo_key(database: Database, network: str) -> bool:
    """The all-scopes demo key is minted only on the devnet with the embedded database: never
    in a database someone else's ``DATABASE_URL`` points at, and never for a real network."""
    return database.embedded is not None and network == "devnet"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte: the file is
    created 0600 under a temporary name, then renamed over ``path`` (atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@dataclass
class DevUpState:
    pg_data_dir: str | None = None
    devnet_pid: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path() -> Path:
        return local_dir() / "dev-up.json"

    def save(self) -> None:
        self.path().write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls) -> DevUpState | None:
        if not cls.path().exists():
            return None
        data: dict[str, Any] = json.loads(cls.path().read_text())
        return cls(**data)
