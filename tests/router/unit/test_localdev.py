"""``local run`` mints its all-scopes demo key only on the devnet with the embedded database, and
writes it readable by its owner only from the first byte."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from dydx_router import localdev


def test_the_demo_key_is_minted_only_on_the_devnet_with_the_embedded_database() -> None:
    embedded: Any = object()
    assert localdev.may_mint_demo_key(localdev.Database("postgresql://x", embedded), "devnet")
    # DATABASE_URL set: someone else's database, never an all-powerful key in it.
    assert not localdev.may_mint_demo_key(localdev.Database("postgresql://x"), "devnet")
    for network in ("testnet", "mainnet"):
        assert not localdev.may_mint_demo_key(
            localdev.Database("postgresql://x", embedded), network
        )


def test_the_key_file_is_private_from_creation(tmp_path: Path, monkeypatch: Any) -> None:
    created: list[int] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *a: Any, **k: Any) -> int:
        if flags & os.O_CREAT:
            created.append(mode)
        return real_open(path, flags, mode, *a, **k)

    monkeypatch.setattr(os, "open", spy)
    old = os.umask(0)  # the most permissive umask: the mode alone must keep it private
    try:
        target = tmp_path / "demo-api-key"
        target.write_text("old\n")
        localdev.write_private(target, "dxr_new\n")
    finally:
        os.umask(old)
    assert created == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "dxr_new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["demo-api-key"]  # no temporary left
