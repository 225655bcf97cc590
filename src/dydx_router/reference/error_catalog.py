"""What each stable error code means and what a caller or operator does about it.

The codes and their statuses are found in the code (reference/errors.py); this table only
explains them. A new code without an entry here fails tests/router/unit/test_generated_docs.py.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    meaning: str
    action: str


_RETRY = "Retry with the same Idempotency-Key after Retry-After."
_INTERNAL = "Not answered by the API (internal to the router); report it if seen."
_FIX = "Fix the request; retrying it unchanged fails the same way."

CATALOG: dict[str, Entry] = {
    # --- the request itself ---
    "invalid_request": Entry(
        "The body or parameters fail validation; `details.errors` lists each field and problem.",
        _FIX,
    ),
    "nesting_too_deep": Entry("The JSON body is nested too deeply to read.", _FIX),
    "invalid_encoding": Entry("The body is not UTF-8.", _FIX),
    "number_out_of_range": Entry("A number in the request is out of any usable range.", _FIX),
    "payload_too_large": Entry(
        "The body exceeds `DYDX_ROUTER_MAX_BODY_BYTES`.",
        "Send a smaller body (or raise the limit).",
    ),
    "not_found": Entry("No such route.", "Check the path against openapi.json."),
    "method_not_allowed": Entry(
        "The route exists but not with this method.", "Check the method against openapi.json."
    ),
    "http_error": Entry("Another HTTP-level error (the status says which).", _FIX),
    "invalid_cursor": Entry(
        "The paging cursor is not one this API returned.", "Start again without a cursor."
    ),
    "invalid_cancel_selector": Entry(
        "A batch cancel must give exactly one of `ids`, `market`, `all: true`.", _FIX
    ),
    "invalid_status": Entry(
        "A `status` filter names a status that does not exist (several are comma-separated).",
        _FIX,
    ),
    # --- the event stream (docs/events.md) ---
    "event_id_expired": Entry(
        "`Last-Event-ID` is older than the retention window: events after it were deleted.",
        "Re-read the orders (`GET /v1/orders?status=...`) and open the stream without an id.",
    ),
    "unknown_event_id": Entry(
        "`Last-Event-ID` is not an id this event log issued.",
        "Open the stream without an id, or with the last id read from this deployment.",
    ),
    # --- authentication and limits ---
    "unauthenticated": Entry(
        "No `Authorization: Bearer <key>` header.",
        "Send an API key (`dydx-router api-keys create`).",
    ),
    "invalid_api_key": Entry("The API key is unknown or revoked.", "Use a valid key."),
    "insufficient_scope": Entry(
        "The key lacks the scope of this route (`details.required_scope`).",
        "Use a key with that scope.",
    ),
    "too_many_auth_failures": Entry(
        "Too many requests with invalid keys from this address.",
        "Fix the key; wait for Retry-After.",
    ),
    "rate_limited": Entry(
        "502: the chain refused the tx for the account's block rate limit "
        "(clob/5001). 429: the API key is over its request rate for this "
        "route class.",
        "Slow down; wait for Retry-After (429) or a few blocks (502).",
    ),
    "chain_rate_limited": Entry(
        "The order would exceed the chain's per-account block rate "
        "limit and waiting for the window took too long.",
        "Retry after Retry-After; spread orders over blocks.",
    ),
    "subaccount_forbidden": Entry(
        "The key is restricted to other subaccounts.", "Use a key allowed on this subaccount."
    ),
    "admin_scope_restricted": Entry(
        "A subaccount-restricted admin key tried an action beyond its subaccounts.",
        "Use an unrestricted admin key.",
    ),
    # --- orders ---
    "invalid_order": Entry("The order breaks a rule of the market or the API.", _FIX),
    "invalid_size": Entry("A close's size is not positive.", _FIX),
    "size_exceeds_position": Entry(
        "A close's size is larger than the position.", "Close at most the position's size."
    ),
    "invalid_amount": Entry("A size or price is not a finite positive decimal.", _FIX),
    "invalid_size_step": Entry(
        "The size is not a multiple of the market's step size.",
        "Round the size to the step (GET /v1/markets).",
    ),
    "invalid_price_tick": Entry(
        "The price is not a multiple of the market's tick size.", "Round the price to the tick."
    ),
    "size_below_minimum": Entry(
        "The size is below the market's minimum order size.", "Send a larger size."
    ),
    "price_below_minimum": Entry("The price is below the smallest price the market allows.", _FIX),
    "amount_too_large": Entry(
        "The size or price does not fit the chain's uint64 quantums or subticks.", _FIX
    ),
    "unknown_market": Entry("No such market on this network.", "Use a listed market id."),
    "domain_error": Entry("A business rule without a more specific code.", _FIX),
    "invalid_tx_input": Entry(
        "An argument the chain would refuse (ValidateBasic), caught before signing.", _FIX
    ),
    "good_til_block_out_of_window": Entry(
        "A short-term good-til-block outside the chain's window (at most 40 blocks ahead).",
        "Use a good-til-block within the window.",
    ),
    "order_not_found": Entry(
        "No such order (or not visible to this key).", "Check the id and the key's subaccounts."
    ),
    "no_position": Entry("No open position in this market to close.", "Nothing to do."),
    "idempotency_key_reused": Entry(
        "The Idempotency-Key was used before with a different request (keys never expire).",
        "Use a new key for a new request.",
    ),
    "idempotency_in_flight": Entry(
        "The first request with this Idempotency-Key is still being processed (its order is "
        "PENDING: the chain's answer is not recorded yet); `details.order_id` names it.",
        "Retry the same request with the same key after Retry-After: it answers the order "
        "once its outcome is stored (never a second order).",
    ),
    "duplicate_order": Entry(
        "An order with the same chain order id or idempotency key exists.",
        "Read the existing order instead of placing again.",
    ),
    "order_in_flight": Entry(
        "The order is still being placed; its status is not final yet.", "Retry shortly."
    ),
    "order_not_cancelable": Entry(
        "The order is final (filled, canceled, ...) or not yet cancelable.",
        "Read the order's status.",
    ),
    "order_withdrawn": Entry(
        "A cancel-all took the stateful order before it was broadcast; it was never sent.",
        "Place it again if still wanted.",
    ),
    "illegal_status_transition": Entry(
        "The order's status cannot move that way.", "Read the order and decide again."
    ),
    "concurrent_update": Entry(
        "The order changed while this request worked on it.", "Read the order and retry."
    ),
    # --- risk ---
    "risk_limit_breached": Entry(
        "The order breaks a pre-trade risk limit.", "See `details`; change the order or the limit."
    ),
    "risk_max_order_size": Entry(
        "The order's size exceeds `max_order_size`.",
        "Send a smaller order, or an admin raises the limit.",
    ),
    "risk_max_order_notional": Entry(
        "The order's notional exceeds `max_order_notional` (default "
        "`DYDX_ROUTER_DEFAULT_MAX_ORDER_NOTIONAL`).",
        "Send a smaller order, or an admin raises the limit.",
    ),
    "risk_max_position_notional": Entry(
        "The position after the order would exceed `max_position_notional`.",
        "Reduce the position first, or raise the limit.",
    ),
    "risk_max_open_orders": Entry(
        "The subaccount already has `max_open_orders` open orders.", "Cancel some orders first."
    ),
    "risk_price_band_bps": Entry(
        "The limit price is too far from the oracle price (a conditional order not yet "
        "triggered: from its trigger price), or a conditional order's trigger the oracle has "
        "already crossed is too far from the oracle (`details.trigger_price`).",
        "Price closer to the oracle price; a trigger on the side the oracle has not reached.",
    ),
    "risk_max_slippage_bps": Entry(
        "The requested slippage exceeds `max_slippage_bps`, or a conditional market order "
        "whose trigger the oracle has already crossed (it triggers at once) has a worst price "
        "further than `max_slippage_bps` from the oracle (`details.worst_price`).",
        "Ask for less slippage; a trigger on the side the oracle has not reached, or a MARKET "
        "order.",
    ),
    # --- per-key agent limits (domain/agent_limits.py) ---
    "agent_limit_breached": Entry(
        "The order breaks one of its API key's agent limits.",
        "See `details.limit`; change the order, or an admin changes the key's limits.",
    ),
    "agent_market_not_allowed": Entry(
        "The key's `allowed_markets` does not include the order's market.",
        "Trade one of `details.allowed_markets`, or an admin allows the market.",
    ),
    "agent_max_order_notional": Entry(
        "The order's notional (size x max(price, oracle)) exceeds the key's `max_order_notional`.",
        "Send a smaller order, or an admin raises the key's limit.",
    ),
    "agent_max_daily_notional": Entry(
        "The key's orders since 00:00 UTC plus this one exceed its `max_daily_notional`; "
        "`details.remaining` is what is left today.",
        "Send a smaller order (at most `details.remaining`), wait for 00:00 UTC, or an admin "
        "raises the limit. Reduce-only orders are never refused by it.",
    ),
    "agent_max_open_orders": Entry(
        "The key already has `max_open_orders` non-final orders.",
        "Cancel some orders or wait for them to fill or expire.",
    ),
    "agent_limits_not_found": Entry("The API key has no agent limits.", "Nothing to delete."),
    "trading_halted": Entry(
        "An admin halted trading: new orders are refused (cancels work).",
        "Wait for an admin to resume trading.",
    ),
    "trading_reduce_only": Entry(
        "Trading is REDUCE_ONLY (also until risk limits are set when they are required).",
        "Send reduce_only orders, or an admin sets the limits (docs/security.md).",
    ),
    "risk_data_unavailable": Entry(
        "A limit needs data the router does not have fresh (price, position): it fails closed.",
        _RETRY,
    ),
    "risk_limits_not_found": Entry(
        "The market has no risk-limit overrides.", "Nothing to delete or read."
    ),
    # --- the operator console ---
    "console_not_built": Entry(
        "The console's page was not built into this installation (GET /console).",
        "Run `make console` (node 20 and npm) and reinstall, or use a released wheel.",
    ),
    # --- admin ---
    "api_key_not_found": Entry("No such API key.", "Check the key id (`api-keys list`)."),
    "invalid_api_key_spec": Entry("A key's scopes or subaccounts are invalid.", _FIX),
    # --- availability ---
    "database_unavailable": Entry(
        "PostgreSQL cannot be reached or dropped the connection.",
        _RETRY + " Operators: troubleshooting.md.",
    ),
    "shutting_down": Entry(
        "This process is stopping and takes no new writes.", _RETRY + " Another replica takes it."
    ),
    "chain_unavailable": Entry("No node endpoint answered.", _RETRY),
    "chain_timeout": Entry(
        "A node call's deadline expired; for a placement the outcome is "
        "unknown (the order is stored and reconciled).",
        "Retry with the same Idempotency-Key: never a new order.",
    ),
    "height_unknown": Entry("No fresh block height yet, so no good-til-block can be set.", _RETRY),
    "price_stale": Entry("The oracle price is older than `DYDX_ROUTER_ORACLE_MAX_AGE_S`.", _RETRY),
    "indexer_unavailable": Entry("No indexer endpoint answered (or 5xx/429/timeout).", _RETRY),
    "account_not_found": Entry(
        "The trading address has no on-chain account yet.",
        "Fund the address (deposit) before trading.",
    ),
    # --- chain answers ---
    "chain_rejected": Entry(
        "The chain refused the tx (CheckTx/DeliverTx code in `details`).",
        "See `details.codespace`/`chain_code`; fix the order.",
    ),
    "sequence_mismatch": Entry(
        "The account sequence was stale (sdk/32); the router resyncs.", _RETRY
    ),
    "timestamp_nonce_rejected": Entry(
        "The timestamp nonce was refused (x/accountplus: outside ±30 s, or reused).",
        "Check the host clock (NTP); retry.",
    ),
    "authenticator_refused": Entry(
        "A permissioned trading key's authenticator refused the tx (dydxaccountplus/*): a "
        "market, subaccount or message outside its filters, another key, or a revoked id.",
        "Use an allowed market and subaccount, or grant a key that allows it "
        "(`dydx-router keys grant`; docs/permissioned-keys.md).",
    ),
    "chain_query_failed": Entry("A node query answered an error status.", _RETRY),
    "chain_error": Entry("Another chain adapter failure.", _RETRY),
    "tx_not_found": Entry("No tx with this hash in a block.", _INTERNAL),
    "invalid_mnemonic": Entry(
        "The configured mnemonic is malformed (stops the start).",
        "Fix the key setting (`dydx-router doctor`).",
    ),
    "indexer_error": Entry("The indexer answered an error.", _RETRY),
    "indexer_not_found": Entry("The indexer has no such resource.", _INTERNAL),
    "indexer_bad_request": Entry("The indexer refused the router's request.", _INTERNAL),
    "indexer_response_invalid": Entry(
        "The indexer's answer did not have the documented shape.",
        _RETRY + " Operators: check the indexer version.",
    ),
    "stream_closed": Entry("The indexer websocket stream was closed.", _INTERNAL),
    "internal_error": Entry(
        "An unexpected error; the message never holds its details.",
        "Retry; report it with the X-Request-ID.",
    ),
}
