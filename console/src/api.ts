// HTTP and the event stream. The API key lives in this module's memory only (never in the URL,
// the DOM, localStorage or sessionStorage): a reload signs the operator out.

let apiKey: string | null = null;

export function setKey(key: string | null): void {
  apiKey = key;
}

export function hasKey(): boolean {
  return apiKey !== null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  if (apiKey === null) throw new ApiError(401, "unauthenticated", "not signed in");
  return { Authorization: `Bearer ${apiKey}`, Accept: "application/json", ...extra };
}

async function failure(resp: Response): Promise<ApiError> {
  let code = `http_${resp.status}`;
  let message = resp.statusText;
  try {
    const body = await resp.json();
    code = body.code ?? body.error?.code ?? code;
    message = body.detail ?? body.error?.message ?? message;
  } catch {
    /* not JSON */
  }
  return new ApiError(resp.status, code, message);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(), cache: "no-store" };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) throw await failure(resp);
  return (await resp.json()) as T;
}

export interface SseEvent {
  id: number | null;
  event: string;
  data: unknown;
}

export type StreamState = "connecting" | "live" | "reconnecting" | "off" | "expired";

export interface StreamHandlers {
  onEvent(e: SseEvent): void;
  onState(state: StreamState, detail?: string): void;
  // The resume point is gone (410 event_id_expired): reload state, then the stream restarts.
  onExpired(): Promise<void>;
  onUnauthorized(): void;
}

// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, and the key
// must never go into a URL. Resumes with Last-Event-ID after any break (docs/events.md).
export class EventStream {
  lastEventId: number | null = null;
  private abort: AbortController | null = null;
  private stopped = false;
  private backoffMs = 250;

  constructor(private readonly h: StreamHandlers) {}

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  // Drop the connection and open a new one that resumes after the last event read.
  reconnect(): void {
    this.abort?.abort();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.h.onState("off");
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.once();
        this.backoffMs = 250;
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof ApiError && e.status === 401) {
          this.h.onUnauthorized();
          return;
        }
        if (e instanceof ApiError && (e.code === "event_id_expired" || e.code === "unknown_event_id")) {
          this.h.onState("expired", e.message);
          this.lastEventId = null;
          await this.h.onExpired().catch(() => undefined);
          continue;
        }
        this.h.onState("reconnecting", e instanceof Error ? e.message : String(e));
      }
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, this.backoffMs));
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    }
  }

  private async once(): Promise<void> {
    this.abort = new AbortController();
    const extra: Record<string, string> = { Accept: "text/event-stream" };
    if (this.lastEventId !== null) extra["Last-Event-ID"] = String(this.lastEventId);
    this.h.onState(this.lastEventId === null ? "connecting" : "reconnecting");
    const resp = await fetch("/v1/events", {
      headers: headers(extra),
      cache: "no-store",
      signal: this.abort.signal,
    });
    if (!resp.ok || resp.body === null) throw await failure(resp);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let fields: Record<string, string> = {};
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffer += value;
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (fields.data !== undefined) this.dispatch(fields);
          fields = {};
          continue;
        }
        if (line.startsWith(":")) {
          // ": connected" is the first line: subscribed, nothing after it can be missed.
          if (line.startsWith(": connected")) this.h.onState("live");
          continue;
        }
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${val}` : val;
      }
    }
  }

  private dispatch(fields: Record<string, string>): void {
    const id = fields.id ? Number(fields.id) : null;
    let data: unknown = fields.data;
    try {
      data = JSON.parse(fields.data);
    } catch {
      /* keep the text */
    }
    const event = fields.event ?? "message";
    if (event === "error") {
      const err = data as { code?: string; message?: string };
      throw new ApiError(0, err.code ?? "stream_error", err.message ?? "stream error");
    }
    if (id !== null) this.lastEventId = id;
    this.h.onEvent({ id, event, data });
  }
}
