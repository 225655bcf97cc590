"""Response objects, built the way comlink and socks build them.

REST shapes follow `comlink/src/request-helpers/request-transformer.ts` and the OpenAPI spec
(`comlink/public/swagger.json`); websocket payloads follow
`postgres/src/types/websocket-message-types.ts`. Every amount is a decimal string in human
units (`fmt.dec`); heights are strings; the spec's integer fields stay JSON numbers.

One module a kind of object: `orders` (orders, fills), `accounts` (positions, subaccounts, PnL,
transfers), `markets` (markets, orderbooks); `common` holds what they share.
"""

from __future__ import annotations

from dydx_devnet.indexer.views.accounts import (
    asset_position_response,
    asset_positions_ws,
    equity_and_free_collateral,
    pnl_response,
    position_response,
    position_ws,
    subaccount_response,
    transfer_response,
    transfer_type,
    transfer_ws,
    unrealized_pnl,
)
from dydx_devnet.indexer.views.common import (
    JSON,
    MILLION,
    USDC_SYMBOL,
    Tables,
    side_name,
    usdc,
)
from dydx_devnet.indexer.views.markets import (
    market_response,
    market_stats,
    open_interest,
    orderbook_response,
)
from dydx_devnet.indexer.views.orders import (
    fill_response,
    fill_ws,
    order_response,
    order_ws,
)

__all__ = [
    "JSON",
    "MILLION",
    "USDC_SYMBOL",
    "Tables",
    "asset_position_response",
    "asset_positions_ws",
    "equity_and_free_collateral",
    "fill_response",
    "fill_ws",
    "market_response",
    "market_stats",
    "open_interest",
    "order_response",
    "order_ws",
    "orderbook_response",
    "pnl_response",
    "position_response",
    "position_ws",
    "side_name",
    "subaccount_response",
    "transfer_response",
    "transfer_type",
    "transfer_ws",
    "unrealized_pnl",
    "usdc",
]
