"""The failover tests' PostgreSQL pair (tests/fixtures/pg_pair.py) picks its ports free and
PostgreSQL binds them itself: a port taken meanwhile must cost a retry on a new port, never a
failed fixture or a stranger's server passing for ours. The race is forced: the first port the
fixture picks is one another socket holds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import pg_pair
from tests.fixtures.pg_pair import PostgresPair, find_binaries

pytestmark = pytest.mark.integration


@pytest.fixture
def bin_dir() -> Path:
    found = find_binaries()
    if found is None:
        pytest.skip("no PostgreSQL binaries with pg_basebackup (the embedded extra)")
    return found


@pytest.fixture
def taken() -> Iterator[int]:
    """A port a stranger listens on."""
    with socket.create_server(("127.0.0.1", 0)) as stranger:
        yield int(stranger.getsockname()[1])


@pytest.mark.timeout(120)
def test_a_port_taken_before_the_server_binds_it_is_retried_on_a_new_one(
    bin_dir: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picked: list[int] = []
    free_port = pg_pair.free_port

    def racy_free_port() -> int:
        # The first pick of each server loses the race; the next ones are free.
        port = taken if len(picked) in (0, 2) else free_port()
        picked.append(port)
        return port

    monkeypatch.setattr(pg_pair, "free_port", racy_free_port)
    pair = PostgresPair(bin_dir)
    try:
        pair.start()
        assert picked[0] == picked[2] == taken and len(picked) == 4, picked
        assert (pair.primary_port, pair.standby_port) == (picked[1], picked[3])
        assert pair.psql(pair.primary_port, "SHOW data_directory") == str(pair.primary)
        assert pair.psql(pair.standby_port, "SELECT pg_is_in_recovery()") == "t"
    finally:
        pair.close()


@pytest.mark.timeout(120)
def test_it_gives_up_after_the_attempts(
    bin_dir: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_pair, "free_port", lambda: taken)
    pair = PostgresPair(bin_dir)
    try:
        with pytest.raises(pg_pair.PortTaken, match=f"port {taken} taken"):
            pair.start()
    finally:
        pair.close()
