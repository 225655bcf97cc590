"""Fixtures of the replica tests: a devnet of their own (they SIGKILL routers under load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet


@pytest.fixture(scope="package")
def replicas_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet("replicas", ["--block-time", "0.2", "--seed", "3"])
    try:
        yield d
    finally:
        stop_devnet(d.process)
        if d.process.returncode == 0:
            d.log_path.unlink(missing_ok=True)
