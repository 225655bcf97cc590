"""Fixtures shared by the devnet's unit modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.devnet.unit.indexer_rest_kit import Harness
from tests.fixtures.indexer_swagger import IndexerSwagger


@pytest.fixture
async def h(indexer_swagger: IndexerSwagger) -> AsyncIterator[Harness]:
    harness = Harness(indexer_swagger)
    yield harness
    await harness.client.aclose()
