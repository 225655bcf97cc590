"""The chain as the audit reads it: heights from the node and the indexer, and the indexer's view
of one order. Queries only; no wallet, no broadcast (``service.ports.ChainObserver``)."""

from __future__ import annotations

from dydx_router.chain.errors import IndexerNotFound
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.node import NodeClient
from dydx_router.domain.order import Order
from dydx_router.domain.sync import VenueOrder
from dydx_router.service.ports import ChainHeights


class ChainReader:
    def __init__(self, node: NodeClient, indexer: IndexerClient) -> None:
        self.node = node
        self.indexer = indexer

    async def heights(self) -> ChainHeights:
        node_height = await self.node.latest_height()
        indexed = await self.indexer.height()
        return ChainHeights(node_height, indexed.height, indexed.time)

    async def venue_order(self, order: Order) -> VenueOrder | None:
        # An unfilled short-term order is 404 once cancelled or expired: comlink serves it from
        # Redis only while it rests (indexer/services/vulcan/src/handlers/
        # order-remove-handler.ts); domain.audit reads None accordingly.
        try:
            seen = await self.indexer.order(order.indexer_order_id)
        except IndexerNotFound:
            return None
        return VenueOrder(status=seen.status, total_filled=seen.total_filled)

    async def aclose(self) -> None:
        await self.indexer.aclose()
        await self.node.close()
