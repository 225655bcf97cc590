// The operator console: sign-in, blotter, account and positions, health, controls.
import "./style.css";
import { api, ApiError, EventStream, setKey, type SseEvent } from "./api";
import { SessionChart } from "./chart";
import { confirmCancel, confirmClose, notice } from "./controls";
import { agentReason, keyLabel, keyNames, showDetails } from "./details";
import { $, clear, el, fmtTime, setText } from "./dom";
import { refreshHealth, showStream, showTradingState } from "./health";
import type { Account, Order, Position } from "./types";

const FINAL = new Set(["FILLED", "CANCELED", "EXPIRED", "REJECTED", "FAILED"]);
const STATUSES = [
  "PENDING", "SUBMITTED", "OPEN", "UNTRIGGERED", "PARTIALLY_FILLED", "CANCEL_REQUESTED",
  "FILLED", "CANCELED", "EXPIRED", "REJECTED", "FAILED", "UNKNOWN",
];


const orders = new Map<string, Order>();
const seenAt = new Map<string, string>(); // newest event time applied per order
let me: Account["api_key"] = null;
let isAdmin = false;
let positions: Position[] = [];
let healthTimer: number | undefined;
let refreshTimer: number | undefined;
const chart = new SessionChart($("chart"));

const stream = new EventStream({
  onEvent: applyEvent,
  onState: showStream,
  onExpired: async () => {
    await loadOrders();
    await refreshAccount();
  },
  onUnauthorized: () => signOut("The key was refused (revoked?): signed out."),
});

// --- sign-in ------------------------------------------------------------------------------------
$("sign-in-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("api-key") as HTMLInputElement;
  const key = input.value.trim();
  input.value = ""; // not left in the DOM
  void signIn(key);
});
$("sign-out").addEventListener("click", () => signOut(""));
$("reconnect").addEventListener("click", () => stream.reconnect());

async function signIn(key: string): Promise<void> {
  setText("sign-in-error", "");
  setKey(key);
  let account: Account;
  try {
    account = await api<Account>("GET", "/v1/account");
  } catch (e) {
    setKey(null);
    setText("sign-in-error", e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    return;
  }
  me = account.api_key;
  isAdmin = !!me && me.scopes.includes("admin");
  if (me) keyNames.set(me.id, me.name);
  document.body.classList.toggle("is-admin", isAdmin);
  $("controls").hidden = !isAdmin;
  setText("who", me ? `${me.name} (${me.scopes.join(", ")})` : "");
  $("sign-out").hidden = false;
  $("reconnect").hidden = false;
  $("sign-in-view").hidden = true;
  $("app-view").hidden = false;
  showTradingState(account.trading_state, account.trading_state_reason);
  if (isAdmin) {
    try {
      const keys = await api<{ api_keys: { id: string; name: string }[] }>("GET", "/v1/admin/api-keys");
      for (const k of keys.api_keys) keyNames.set(k.id, k.name);
    } catch {
      /* a subaccount-limited admin may list fewer keys; names fall back to ids */
    }
  }
  stream.start();
  await loadOrders();
  await loadHistory();
  await refreshAccount();
  await refreshHealth();
  healthTimer = window.setInterval(() => void refreshHealth(), 2000);
  $("blotter").focus();
}

function signOut(message: string): void {
  stream.stop();
  setKey(null);
  window.clearInterval(healthTimer);
  orders.clear();
  seenAt.clear();
  keyNames.clear();
  positions = [];
  me = null;
  isAdmin = false;
  chart.clear();
  document.body.classList.remove("is-admin");
  $("controls").hidden = true;
  $("app-view").hidden = true;
  $("sign-in-view").hidden = false;
  $("sign-out").hidden = true;
  $("reconnect").hidden = true;
  setText("who", "");
  setText("trading-state", "—");
  setText("sign-in-error", message);
  clear($("blotter-body"));
  ($("api-key") as HTMLInputElement).focus();
}

// --- blotter ------------------------------------------------------------------------------------
async function loadOrders(): Promise<void> {
  const page = await api<{ orders: Order[] }>("GET", "/v1/orders?limit=200");
  for (const o of page.orders) {
    const at = seenAt.get(o.id);
    if (at && o.updated_at && Date.parse(o.updated_at) < Date.parse(at)) continue;
    orders.set(o.id, { ...orders.get(o.id), ...o });
  }
  renderBlotter();
}

function applyEvent(e: SseEvent): void {
  const d = e.data as Record<string, string | number | null>;
  if (e.event === "order") {
    const id = String(d.order_id);
    const known = orders.get(id);
    const o: Order = known ?? {
      id,
      status: String(d.status),
      market: String(d.market),
      side: String(d.side),
      client_order_id: d.client_order_id as string | null,
      created_at: String(d.at),
    };
    o.status = String(d.status);
    if (d.filled_size != null) o.filled_size = String(d.filled_size);
    if (d.average_fill_price != null) o.average_fill_price = String(d.average_fill_price);
    // The agent's reasons ride on the order events when given (never the status `reason`,
    // which says why the status changed: shown in the order's history).
    if (d.placement_reason != null) o.placement_reason = String(d.placement_reason);
    if (d.cancel_reason != null) o.cancel_reason = String(d.cancel_reason);
    o.updated_at = String(d.at);
    seenAt.set(id, String(d.at));
    orders.set(id, o);
    renderBlotter();
    if (!known) void completeOrder(id);
    if (d.filled_size != null && Number(d.filled_size) > 0) scheduleAccountRefresh();
  } else if (e.event === "fill") {
    scheduleAccountRefresh();
  } else if (e.event === "trading_state") {
    showTradingState(String(d.state), String(d.reason ?? ""));
  }
}

// A new order seen on the stream: its type, size, key and reason come from GET /v1/orders/{id}.
async function completeOrder(id: string): Promise<void> {
  try {
    const full = await api<Order>("GET", `/v1/orders/${id}`);
    const cur = orders.get(id);
    full.status_history = null;
    const keep = cur
      ? { status: cur.status, updated_at: cur.updated_at, cancel_reason: full.cancel_reason ?? cur.cancel_reason }
      : {};
    orders.set(id, { ...full, ...keep });
    if (cur?.filled_size) orders.get(id)!.filled_size = cur.filled_size;
    renderBlotter();
  } catch {
    /* shown with what the event said */
  }
}

function fillSelect(id: string, values: string[], label: (v: string) => string = (v) => v): void {
  const select = $(id) as HTMLSelectElement;
  const current = select.value;
  const have = new Set([...select.options].map((o) => o.value));
  for (const v of values) {
    if (!have.has(v)) select.append(el("option", { value: v }, label(v)));
  }
  select.value = current;
}

function renderBlotter(): void {
  const all = [...orders.values()].sort((a, b) =>
    (b.created_at ?? "").localeCompare(a.created_at ?? ""),
  );
  fillSelect("f-market", [...new Set(all.map((o) => o.market))].sort());
  fillSelect("f-status", STATUSES);
  fillSelect("f-key", [...new Set(all.map((o) => o.api_key_id ?? ""))].filter(Boolean), keyLabel);
  const fm = ($("f-market") as HTMLSelectElement).value;
  const fs = ($("f-status") as HTMLSelectElement).value;
  const fk = ($("f-key") as HTMLSelectElement).value;
  const shown = all.filter(
    (o) => (!fm || o.market === fm) && (!fs || o.status === fs) && (!fk || o.api_key_id === fk),
  );
  const body = $("blotter-body");
  clear(body);
  for (const o of shown.slice(0, 500)) {
    const row = el("tr", { tabindex: "0", "data-order-id": o.id, class: `st-${o.status}` });
    row.append(
      el("td", {}, fmtTime(o.created_at)),
      el("td", {}, o.market),
      el("td", { class: o.side === "BUY" ? "buy" : "sell" }, o.side),
      el("td", {}, o.type ?? ""),
      el("td", { class: "num" }, o.size ?? ""),
      el("td", { class: "num" }, o.price ?? ""),
      el("td", { class: "num" }, o.filled_size ?? ""),
      el("td", { class: "num" }, o.average_fill_price ?? ""),
      el("td", { "data-col": "status" }, el("span", { class: "status" }, o.status)),
      el("td", {}, keyLabel(o.api_key_id)),
      el("td", { class: "reason" }, agentReason(o)),
    );
    const actions = el("td", { class: "admin-only" });
    if (isAdmin && !FINAL.has(o.status) && o.status !== "CANCEL_REQUESTED") {
      const btn = el("button", { type: "button", class: "small danger" }, "Cancel");
      btn.setAttribute("aria-label", `Cancel order ${o.market} ${o.side} ${o.size ?? ""}`);
      btn.addEventListener("click", (ev) => {
        ev.stopPropagation();
        void confirmCancel(o);
      });
      actions.append(btn);
    }
    row.append(actions);
    row.addEventListener("click", () => void showDetails(o.id));
    row.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.target === row) void showDetails(o.id);
    });
    body.append(row);
  }
  setText("blotter-count", `${shown.length} of ${all.length} orders`);
}

for (const id of ["f-market", "f-status", "f-key"]) $(id).addEventListener("change", renderBlotter);


// --- account, positions, chart ------------------------------------------------------------------
function scheduleAccountRefresh(): void {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refreshAccount(), 250);
}

function signedSizes(list: Position[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of list) m.set(p.market, (p.side === "SHORT" ? -1 : 1) * Number(p.size));
  return m;
}

async function refreshAccount(): Promise<void> {
  let snap: { positions: Position[]; equity: string | null; free_collateral: string | null };
  let account: Account;
  try {
    [snap, account] = await Promise.all([
      api<typeof snap>("GET", "/v1/positions"),
      api<Account>("GET", "/v1/account"),
    ]);
  } catch (e) {
    notice(`account: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const before = signedSizes(positions);
  positions = snap.positions;
  const sizes = signedSizes(positions);
  for (const m of before.keys()) if (!sizes.has(m)) sizes.set(m, 0);
  chart.add(Date.now() / 1000, snap.equity == null ? null : Number(snap.equity), sizes);
  const dl = $("account-list");
  clear(dl);
  const facts: [string, string][] = [
    ["Equity", snap.equity ?? "—"],
    ["Free collateral", snap.free_collateral ?? "—"],
    ["Margin usage", account.margin_usage ?? "—"],
    ["Open orders", String(account.open_orders)],
  ];
  for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", { class: "num" }, v));
  const body = $("positions-body");
  clear(body);
  if (positions.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No open position")));
  }
  for (const p of positions) {
    const pnl = p.unrealized_pnl ?? "";
    const row = el("tr", { "data-market": p.market });
    row.append(
      el("td", {}, p.market),
      el("td", { class: p.side === "LONG" ? "buy" : "sell" }, p.side),
      el("td", { class: "num", "data-col": "size" }, p.size),
      el("td", { class: "num" }, p.entry_price ?? ""),
      el("td", { class: `num ${pnl.startsWith("-") ? "sell" : "buy"}` }, pnl),
    );
    const actions = el("td", { class: "admin-only" });
    if (isAdmin) {
      const btn = el("button", { type: "button", class: "small danger" }, "Close");
      btn.setAttribute("aria-label", `Close the ${p.market} position`);
      btn.addEventListener("click", () => void confirmClose(p));
      actions.append(btn);
    }
    row.append(actions);
    body.append(row);
  }
}

// The positions' path from the fills history, anchored to the sizes now (walked backwards).
async function loadHistory(): Promise<void> {
  let fills: { market: string; side: string; size: string; created_at: string }[];
  let snap: { positions: Position[] };
  try {
    [fills, snap] = await Promise.all([
      api<{ fills: typeof fills }>("GET", "/v1/fills?limit=500").then((r) => r.fills),
      api<typeof snap>("GET", "/v1/positions"),
    ]);
  } catch {
    return;
  }
  const sizes = signedSizes(snap.positions);
  const points: { t: number; sizes: Map<string, number> }[] = [];
  for (const f of fills) {
    // newest first: the size after this fill is the current running value
    points.push({ t: Date.parse(f.created_at) / 1000, sizes: new Map(sizes) });
    const signed = (f.side === "BUY" ? 1 : -1) * Number(f.size);
    sizes.set(f.market, (sizes.get(f.market) ?? 0) - signed);
  }
  if (fills.length) {
    const first = Date.parse(fills[fills.length - 1].created_at) / 1000 - 1;
    points.push({ t: first, sizes: new Map(sizes) });
  }
  chart.addHistory(points);
}

// --- health -------------------------------------------------------------------------------------
window.addEventListener("resize", () => chart.resize());
