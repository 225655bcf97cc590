"""The harness of the indexer's REST tests (test_indexer_rest*.py): the projection fed with
hand-built node events and the indexer's ASGI app over it, every 200 body validated against the
real indexer's OpenAPI spec."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from tests.devnet.unit.indexer_events import (
    ALICE,
    chain,
)
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.events import (
    EventBatch,
)
from dydx_devnet.indexer import ids
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.rest import IndexerApi

GTBT = 1_795_000_000  # a good-til-block-time in 2026
BAD_CHECKSUM = ALICE.owner[:-1] + ("q" if ALICE.owner[-1] != "q" else "p")


class Harness:
    def __init__(self, swagger: IndexerSwagger) -> None:
        self.projection = Projection(chain())
        self.funded: list[tuple[str, int, Decimal]] = []
        self.api = IndexerApi(self.projection, None, self._fund)
        self.swagger = swagger
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.api.app()), base_url="http://indexer"
        )

    def _fund(self, address: str, number: int, usdc: Decimal) -> None:
        if address == BAD_CHECKSUM:
            raise ValueError(f"invalid address {address!r}: bad checksum")
        self.funded.append((address, number, usdc))

    def apply(self, *batches: EventBatch) -> list[Any]:
        out = []
        for b in batches:
            out.extend(self.projection.apply(b))
        return out

    async def get(self, path: str, spec_path: str | None = None, **params: Any) -> Any:
        """GET /v4{path}; a 200 body is validated against the spec's `spec_path` (default:
        `path` itself)."""
        r = await self.client.get(f"/v4{path}", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        self.swagger.validate_response(spec_path or path, body)
        return body

    async def error(self, path: str, code: int, **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get(f"/v4{path}", params=params)
        assert r.status_code == code, r.text
        errors: list[dict[str, Any]] = r.json()["errors"]
        assert errors and all("msg" in e for e in errors)
        return errors

    async def orders(self, sub: Any = ALICE, **params: Any) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = await self.get(
            "/orders", address=sub.owner, subaccountNumber=sub.number, **params
        )
        return body


def uid(o: Any) -> str:
    oid = o.order_id
    s = oid.subaccount_id
    return ids.order_uuid(s.owner, s.number, oid.client_id, oid.clob_pair_id, oid.order_flags)
