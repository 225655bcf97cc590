"""The fault matrix's one fixture set: a three-validator devnet for the package (0.25 s blocks,
gossip after 0.1 s), and per case a :class:`World` (a wallet funded on subaccounts 0 and 1, a
database of its own, the router it starts), whose router is stopped at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet
from tests.router.integration.reliability.harness import new_mnemonic
from tests.router.integration.reliability.matrix.world import World


@pytest.fixture(scope="package")
def matrix_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet(
        "matrix",
        ["--validators", "3", "--block-time", "0.25", "--gossip-delay", "0.1", "--seed", "3"],
    )
    try:
        yield d
    finally:
        stop_devnet(d.process)
        if d.process.returncode == 0:
            d.log_path.unlink(missing_ok=True)


@pytest.fixture
async def world(
    matrix_devnet: DevnetProcess, router_db: str, request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    mnemonic, address = new_mnemonic()
    for subaccount in (0, 1):
        await matrix_devnet.fund(address, "100000", subaccount)
    name = request.node.name.replace("[", "-").replace("]", "").replace("test_", "")
    w = World(matrix_devnet, router_db, mnemonic, address, name)
    try:
        yield w
    finally:
        w.stop()
        await matrix_devnet.reset_faults()
