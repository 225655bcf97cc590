"""A stand-in for the dYdX v4 Indexer: comlink's REST API and socks' websocket, fed by the
devnet's events (see `projection.py` for how the real indexer's Postgres/Redis split is kept)."""

from __future__ import annotations

from dydx_devnet.indexer.server import Indexer, IndexerAttachment

__all__ = ["Indexer", "IndexerAttachment", "create_attachment"]


def create_attachment() -> IndexerAttachment:
    """What `dydx_devnet.app` attaches to a `Devnet` to serve the indexer."""
    return IndexerAttachment()
