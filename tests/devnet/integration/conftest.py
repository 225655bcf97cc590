"""Fixtures shared by the devnet's integration modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import TIMEOUT


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client
