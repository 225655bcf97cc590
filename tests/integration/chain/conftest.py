"""Fixtures for the chain adapter against the devnet (over real gRPC, HTTP and websocket sockets).

The devnet (``tests/fixtures/devnet.py``) is session-wide and shared with other suites, so every
test here trades from its own fresh wallet and funds it through the devnet's admin API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from tests.fixtures.devnet import DevnetProcess
from tests.integration.chain.helpers import wallet_for

from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.wallet import Wallet


@pytest.fixture
async def funded(devnet: DevnetProcess, request: pytest.FixtureRequest) -> Wallet:
    wallet = wallet_for(request.node.nodeid)
    await devnet.fund(wallet.address, Decimal("100000"))
    return wallet


@pytest.fixture
async def node(devnet: DevnetProcess) -> AsyncIterator[NodeClient]:
    async with NodeClient([GrpcEndpoint(devnet.grpc)], timeout=5) as client:
        yield client


@pytest.fixture
async def indexer(devnet: DevnetProcess) -> AsyncIterator[IndexerClient]:
    async with IndexerClient([devnet.indexer], timeout=5) as client:
        yield client
