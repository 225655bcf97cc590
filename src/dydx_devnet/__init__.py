"""A local dYdX v4 node (gRPC) and indexer (REST, websocket) that enforce the real chain's rules."""
