"""Fixtures of the reliability tests: a devnet of their own (they break it on purpose).

Fault switches, SIGSTOP and killed proxies would disturb the session devnet other tests share, so
these tests run against ``reliability_devnet`` (0.2 s blocks, seed 2), started once for the
package. Every test resets the fault switches it set.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet


@pytest.fixture(scope="package")
def reliability_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet("reliability", ["--block-time", "0.2", "--seed", "2"])
    try:
        yield d
    finally:
        stop_devnet(d.process)
        if d.process.returncode == 0:
            d.log_path.unlink(missing_ok=True)


@pytest.fixture
def router_db(pg_server_url: str) -> Iterator[str]:
    """A fresh database (migrated) for the router a test starts; dropped afterwards."""
    with fresh_database(pg_server_url, "rel") as url:
        yield url
