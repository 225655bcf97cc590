// The API's shapes, as the console reads them (decimals are strings).
export interface StatusChange {
  from_status: string | null;
  to_status: string;
  reason: string | null;
  chain_height: number | null;
  at: string;
}

export interface Order {
  id: string;
  status: string;
  market: string;
  side: string;
  type?: string;
  size?: string;
  price?: string | null;
  filled_size?: string;
  average_fill_price?: string | null;
  client_order_id?: string | null;
  api_key_id?: string | null;
  // The agent's stated reasons, when it gave them (the agents' API: `placement_reason` and
  // `cancel_reason`; an order-level `reason` is read as the placement reason too).
  reason?: string | null;
  placement_reason?: string | null;
  cancel_reason?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
  status_history?: StatusChange[] | null;
}

export interface Position {
  market: string;
  side: string;
  size: string;
  entry_price: string | null;
  unrealized_pnl: string | null;
}

export interface Account {
  equity: string | null;
  free_collateral: string | null;
  margin_usage: string | null;
  open_orders: number;
  trading_state: string;
  trading_state_reason: string;
  api_key: { id: string; name: string; scopes: string[]; subaccounts: number[] | null } | null;
}
