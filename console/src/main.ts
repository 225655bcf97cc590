// The operator console: sign-in, blotter, account and positions, health, controls.
import "./style.css";
import { api, ApiError, EventStream, setKey, type SseEvent, type StreamState } from "./api";
import { SessionChart } from "./chart";
import { $, clear, el, fmtTime, setText } from "./dom";

interface StatusChange {
  from_status: string | null;
  to_status: string;
  reason: string | null;
  chain_height: number | null;
  at: string;
}

interface Order {
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

interface Position {
  market: string;
  side: string;
  size: string;
  entry_price: string | null;
  unrealized_pnl: string | null;
}

interface Account {
  equity: string | null;
  free_collateral: string | null;
  margin_usage: string | null;
  open_orders: number;
  trading_state: string;
  trading_state_reason: string;
  api_key: { id: string; name: string; scopes: string[]; subaccounts: number[] | null } | null;
}

const FINAL = new Set(["FILLED", "CANCELED", "EXPIRED", "REJECTED", "FAILED"]);
const STATUSES = [
  "PENDING", "SUBMITTED", "OPEN", "UNTRIGGERED", "PARTIALLY_FILLED", "CANCEL_REQUESTED",
  "FILLED", "CANCELED", "EXPIRED", "REJECTED", "FAILED", "UNKNOWN",
];

const orders = new Map<string, Order>();
const seenAt = new Map<string, string>(); // newest event time applied per order
const keyNames = new Map<string, string>();
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

function agentReason(o: Order): string {
  const placed = o.placement_reason ?? o.reason ?? "";
  return o.cancel_reason ? `${placed}${placed ? "; " : ""}cancel: ${o.cancel_reason}` : placed;
}

function keyLabel(id: string | null | undefined): string {
  if (!id) return "system";
  return keyNames.get(id) ?? id.slice(0, 8);
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

async function showDetails(id: string): Promise<void> {
  const body = $("details-body");
  clear(body);
  let o: Order;
  try {
    o = await api<Order>("GET", `/v1/orders/${id}`);
  } catch (e) {
    body.append(el("p", { class: "error" }, String(e)));
    ($("details") as HTMLDialogElement).showModal();
    return;
  }
  setText("details-title", `${o.market} ${o.side} ${o.type ?? ""} ${o.size ?? ""}`);
  const dl = el("dl", { class: "kv" });
  const facts: [string, string][] = [
    ["Order id", o.id],
    ["Client order id", o.client_order_id ?? ""],
    ["Status", o.status],
    ["Price", o.price ?? ""],
    ["Filled", `${o.filled_size ?? ""} @ ${o.average_fill_price ?? "-"}`],
    ["Key", keyLabel(o.api_key_id)],
    ["Agent's reason", agentReason(o)],
  ];
  for (const [k, v] of facts) dl.append(el("dt", {}, k), el("dd", {}, v));
  const table = el("table", { class: "table", id: "history-table" });
  table.append(
    el("caption", {}, "Status history"),
    el(
      "thead",
      {},
      el("tr", {}, ...["Time", "From", "To", "Why", "Height"].map((h) => el("th", { scope: "col" }, h))),
    ),
  );
  const tb = el("tbody");
  for (const h of o.status_history ?? []) {
    tb.append(
      el(
        "tr",
        {},
        el("td", {}, fmtTime(h.at)),
        el("td", {}, h.from_status ?? ""),
        el("td", {}, h.to_status),
        el("td", {}, h.reason ?? ""),
        el("td", { class: "num" }, h.chain_height == null ? "" : String(h.chain_height)),
      ),
    );
  }
  table.append(tb);
  body.append(dl, table);
  ($("details") as HTMLDialogElement).showModal();
}
$("details-close").addEventListener("click", () => ($("details") as HTMLDialogElement).close());

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
interface Health {
  ready: boolean;
  checks: Record<string, string>;
  chain_height: number | null;
  chain_height_age_s: number | null;
  indexer_height: number | null;
  indexer_lag_blocks: number | null;
  status_stream: string;
  status_stream_backlog: number | null;
  breakers: { upstream: string; endpoint: string; state: string }[];
  orders_unknown: number | null;
  reconciler_backlog: number | null;
  trading_state: string;
  trading_state_reason: string;
}

let streamState: StreamState = "off";

async function refreshHealth(): Promise<void> {
  const dl = $("health-list");
  let h: Health;
  try {
    h = await api<Health>("GET", "/v1/console/health");
  } catch (e) {
    clear(dl);
    dl.append(el("dt", {}, "Service"), el("dd", { class: "bad" }, `unreachable: ${String(e)}`));
    return;
  }
  const open = h.breakers.filter((b) => b.state !== "closed");
  const failing = Object.entries(h.checks).filter(([, v]) => v !== "ok");
  const n = (v: number | null, unit = "") => (v == null ? "—" : `${v}${unit}`);
  const rows: [string, string, boolean][] = [
    ["Ready", h.ready ? "yes" : failing.map(([k, v]) => `${k}: ${v}`).join("; "), h.ready],
    ["Chain height", n(h.chain_height), h.chain_height != null],
    [
      "Block age",
      h.chain_height_age_s == null ? "—" : `${h.chain_height_age_s.toFixed(1)} s`,
      (h.chain_height_age_s ?? 99) < 10,
    ],
    ["Indexer lag", n(h.indexer_lag_blocks, " blocks"), (h.indexer_lag_blocks ?? 0) < 5],
    ["Status stream", h.status_stream, h.status_stream === "ok"],
    ["Event stream", streamState, streamState === "live"],
    [
      "Breakers",
      open.length ? open.map((b) => `${b.upstream} ${b.endpoint}: ${b.state}`).join("; ") : `${h.breakers.length} closed`,
      open.length === 0,
    ],
    ["UNKNOWN orders", n(h.orders_unknown), (h.orders_unknown ?? 0) === 0],
    ["Reconciler backlog", n(h.reconciler_backlog), true],
  ];
  clear(dl);
  for (const [k, v, ok] of rows) dl.append(el("dt", {}, k), el("dd", { class: ok ? "good" : "bad" }, v));
  showTradingState(h.trading_state, h.trading_state_reason);
}

function showStream(state: StreamState, detail?: string): void {
  streamState = state;
  const badge = $("stream-state");
  badge.textContent = `stream: ${state}`;
  badge.className = `badge ${state === "live" ? "good" : state === "off" ? "" : "bad"}`;
  badge.title = detail ?? "Event stream";
}

function showTradingState(state: string, reason: string): void {
  const badge = $("trading-state");
  badge.textContent = state;
  badge.className = `badge state-${state}`;
  badge.title = reason ? `Trading state: ${reason}` : "Trading state";
  for (const b of document.querySelectorAll<HTMLButtonElement>(".state-btn")) {
    b.setAttribute("aria-pressed", String(b.dataset.state === state));
  }
}

// --- controls (admin) ---------------------------------------------------------------------------
function notice(text: string): void {
  setText("notice", text);
}

// A modal confirmation; resolves with the reason typed, or null when dismissed.
function confirmAction(title: string, text: string, extra?: HTMLElement): Promise<string | null> {
  const dialog = $("confirm") as HTMLDialogElement;
  setText("confirm-title", title);
  setText("confirm-text", text);
  const box = $("confirm-extra");
  clear(box);
  if (extra) box.append(extra);
  const reason = $("confirm-reason") as HTMLInputElement;
  reason.value = "";
  return new Promise((resolve) => {
    const done = (value: string | null) => {
      $("confirm-form").removeEventListener("submit", onYes);
      $("confirm-no").removeEventListener("click", onNo);
      dialog.removeEventListener("cancel", onNo);
      dialog.close();
      resolve(value);
    };
    const onYes = (ev: Event) => {
      ev.preventDefault();
      done(reason.value.trim() || "operator console");
    };
    const onNo = (ev: Event) => {
      ev.preventDefault();
      done(null);
    };
    $("confirm-form").addEventListener("submit", onYes);
    $("confirm-no").addEventListener("click", onNo);
    dialog.addEventListener("cancel", onNo);
    dialog.showModal();
    $("confirm-no").focus(); // the safe choice has the focus
  });
}

for (const b of document.querySelectorAll<HTMLButtonElement>(".state-btn")) {
  b.addEventListener("click", () => void setTradingState(b.dataset.state!));
}

async function setTradingState(state: string): Promise<void> {
  let cancelBox: HTMLInputElement | null = null;
  let extra: HTMLElement | undefined;
  if (state !== "ACTIVE") {
    cancelBox = el("input", { type: "checkbox", id: "confirm-cancel-all" }) as HTMLInputElement;
    cancelBox.checked = state === "HALTED";
    extra = el("p", {}, cancelBox, el("label", { for: "confirm-cancel-all" }, " Also cancel every open order"));
  }
  const reason = await confirmAction(
    `Set trading to ${state}?`,
    state === "HALTED"
      ? "Every new order will be refused until trading is set ACTIVE again."
      : state === "REDUCE_ONLY"
        ? "Only orders that reduce a position will be accepted."
        : "Orders will be accepted again.",
    extra,
  );
  if (reason === null) return;
  try {
    const r = await api<{ state: string; reason: string; canceled_orders: string[] | null }>(
      "POST",
      "/v1/admin/trading-state",
      { state, reason, cancel_open_orders: cancelBox?.checked ?? false },
    );
    showTradingState(r.state, r.reason);
    const n = r.canceled_orders?.length;
    notice(`Trading state set to ${r.state}${n != null ? `; ${n} order(s) canceled` : ""}.`);
  } catch (e) {
    notice(`Not changed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function confirmCancel(o: Order): Promise<void> {
  const ok = await confirmAction("Cancel this order?", `${o.market} ${o.side} ${o.size ?? ""} (${o.id})`);
  if (ok === null) return;
  try {
    const r = await api<Order>("POST", `/v1/admin/orders/${o.id}/cancel`, { reason: ok });
    notice(`Order ${r.id.slice(0, 8)}: ${r.status}.`);
  } catch (e) {
    notice(`Not canceled: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function confirmClose(p: Position): Promise<void> {
  const ok = await confirmAction(
    `Close the ${p.market} position?`,
    `A reduce-only market order for ${p.size} on the other side of the ${p.side} position.`,
  );
  if (ok === null) return;
  try {
    const r = await api<Order>("POST", `/v1/admin/positions/${encodeURIComponent(p.market)}/close`, { reason: ok });
    notice(`Close order ${r.id.slice(0, 8)} placed: ${r.status}.`);
  } catch (e) {
    notice(`Not closed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

window.addEventListener("resize", () => chart.resize());
