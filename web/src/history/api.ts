// The history endpoints of the HTTP API (`/api/boards/{id}/timeline`, `history`, `state`,
// `updates`, `restore`), typed with the generated protocol bodies. Any role may read;
// only the facilitator may restore.
import { authHeaders, errorText } from "../api";
import type { HistoryPage, RestoreRequest, RestoreResult, Timeline, UpdatePage } from "../generated/protocol";

/** A failed history request: the server's message and the HTTP status. */
export class HistoryApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The board's state at a point, as one Yjs update, and the point it shows. */
export interface StateAt {
  seq: number;
  update: Uint8Array;
}

/** Tries of a read the server answers 503 (busy) before its message is shown. */
const BUSY_ATTEMPTS = 4;

/** Resolves after `ms`, or rejects as `fetch` does once `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

export class HistoryApi {
  readonly #base: string;
  readonly #token: string | null;

  constructor(boardId: string, token: string | null) {
    this.#base = `/api/boards/${encodeURIComponent(boardId)}`;
    this.#token = token;
  }

  /** A read; one the server is too busy for (503, rebuilding other boards) is asked again
   * after the wait it names, a few times, before its message is shown. */
  async #get(path: string, accept = "application/json", signal?: AbortSignal): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(this.#base + path, { headers: authHeaders(this.#token, accept), signal });
      if (res.ok) return res;
      if (res.status !== 503 || attempt >= BUSY_ATTEMPTS) throw new HistoryApiError(await errorText(res), res.status);
      const seconds = Number(res.headers.get("retry-after"));
      await sleep(Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : 1, 5) * 1000, signal);
    }
  }

  async timeline(buckets = 120): Promise<Timeline> {
    return (await (await this.#get(`/timeline?buckets=${buckets}`)).json()) as Timeline;
  }

  /** A page of history entries, newest first, older than `before` when given. */
  async history(before?: number, limit = 50): Promise<HistoryPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set("before", String(before));
    return (await (await this.#get(`/history?${q}`)).json()) as HistoryPage;
  }

  /** The board right after update `at`, as a Yjs update (`format=yjs`). */
  async stateAt(at: number, signal?: AbortSignal): Promise<StateAt> {
    const res = await this.#get(`/state?at=${at}&format=yjs`, "application/octet-stream", signal);
    const shown = Number(res.headers.get("x-commonboard-seq"));
    return { seq: Number.isFinite(shown) && shown > 0 ? shown : at, update: new Uint8Array(await res.arrayBuffer()) };
  }

  /** Logged updates `from`, `from + 1`, …, oldest first. */
  async updates(from: number, limit: number, signal?: AbortSignal): Promise<UpdatePage> {
    return (await (await this.#get(`/updates?from=${from}&limit=${limit}`, "application/json", signal)).json()) as UpdatePage;
  }

  /** Returns the board to point `at` (facilitator only); `name` is who restores, for the history. */
  async restore(at: number, name: string): Promise<RestoreResult> {
    const body: RestoreRequest = { at, name };
    const res = await fetch(`${this.#base}/restore`, {
      method: "POST",
      headers: { ...authHeaders(this.#token), "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new HistoryApiError(await errorText(res), res.status);
    return (await res.json()) as RestoreResult;
  }
}

/** Decodes a base64 Yjs update. */
export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
