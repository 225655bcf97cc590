"""Fixtures for the chain adapter against the devnet (over real gRPC, HTTP and websocket sockets).

The devnet (``tests/fixtures/devnet.py``) is session-wide and shared with other suites, so every
test here trades from its own fresh wallet and funds it through the devnet's admin API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.chain.helpers import wallet_for

from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.wallet import Wallet


@pytest.fixture
async def funded(devnet: DevnetProcess, request: pytest.FixtureRequest) -> Wallet:
    """A fresh wallet, funded and already indexed: a subscription to a subaccount the indexer
    does not know yet is answered with empty contents (socks' EMPTY_INITIAL_RESPONSE)."""
    wallet = wallet_for(request.node.nodeid)
    await devnet.fund(wallet.address, Decimal("100000"))
    path = f"/v4/addresses/{wallet.address}/subaccountNumber/0"
    async with httpx.AsyncClient(base_url=devnet.indexer, timeout=5) as client:
        for _ in range(100):
            if (await client.get(path)).status_code == 200:
                break
            await asyncio.sleep(0.05)
    return wallet


@pytest.fixture
async def node(devnet: DevnetProcess) -> AsyncIterator[NodeClient]:
    async with NodeClient([GrpcEndpoint(devnet.grpc)], timeout=5) as client:
        yield client


@pytest.fixture
async def indexer(devnet: DevnetProcess) -> AsyncIterator[IndexerClient]:
    async with IndexerClient([devnet.indexer], timeout=5) as client:
        yield client
