// The admin controls: the trading state, one order, one position; each behind a confirmation
// whose reason goes to the audit log with the action.
import { api } from "./api";
import { $, clear, el, setText } from "./dom";
import { showTradingState } from "./health";
import type { Order, Position } from "./types";

export function notice(text: string): void {
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

export async function confirmCancel(o: Order): Promise<void> {
  const ok = await confirmAction("Cancel this order?", `${o.market} ${o.side} ${o.size ?? ""} (${o.id})`);
  if (ok === null) return;
  try {
    const r = await api<Order>("POST", `/v1/admin/orders/${o.id}/cancel`, { reason: ok });
    notice(`Order ${r.id.slice(0, 8)}: ${r.status}.`);
  } catch (e) {
    notice(`Not canceled: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function confirmClose(p: Position): Promise<void> {
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
