// An order's details and full status history, in a modal dialog.
import { api } from "./api";
import { $, clear, el, fmtTime, setText } from "./dom";
import type { Order } from "./types";

// Key ids to names (an admin can list the keys; others know their own).
export const keyNames = new Map<string, string>();

export function agentReason(o: Order): string {
  const placed = o.placement_reason ?? o.reason ?? "";
  return o.cancel_reason ? `${placed}${placed ? "; " : ""}cancel: ${o.cancel_reason}` : placed;
}

export function keyLabel(id: string | null | undefined): string {
  if (!id) return "system";
  return keyNames.get(id) ?? id.slice(0, 8);
}


export async function showDetails(id: string): Promise<void> {
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
