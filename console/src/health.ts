// The health card and the header's badges.
import { api, type StreamState } from "./api";
import { $, clear, el } from "./dom";

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

export async function refreshHealth(): Promise<void> {
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

export function showStream(state: StreamState, detail?: string): void {
  streamState = state;
  const badge = $("stream-state");
  badge.textContent = `stream: ${state}`;
  badge.className = `badge ${state === "live" ? "good" : state === "off" ? "" : "bad"}`;
  badge.title = detail ?? "Event stream";
}

export function showTradingState(state: string, reason: string): void {
  const badge = $("trading-state");
  badge.textContent = state;
  badge.className = `badge state-${state}`;
  badge.title = reason ? `Trading state: ${reason}` : "Trading state";
  for (const b of document.querySelectorAll<HTMLButtonElement>(".state-btn")) {
    b.setAttribute("aria-pressed", String(b.dataset.state === state));
  }
}

