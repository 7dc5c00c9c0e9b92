import { detectBlock } from "./block-detector";

/** What one attempt at a job produced. */
export type AttemptResult = Final | Transient;

export interface Final {
  kind: "final";
  status: "completed" | "failed" | "timeout";
  status_code: number | null;
  final_url: string | null;
  blocked_reason: string | null;
  error: string | null;
  /** The page as fetched or rendered, when there was one (kept for failed pages too: a block page is worth seeing). */
  html: string | null;
  screenshot: Uint8Array | null;
  evaluate_results: unknown[] | null;
  fetch_ms: number;
  render_ms: number | null;
}

/** Worth another attempt: network errors, 408, 429, 502-504. */
export interface Transient {
  kind: "transient";
  error: string;
  status_code: number | null;
  final_url: string | null;
  html: string | null;
  retry_after_s: number | null;
  fetch_ms: number;
  render_ms: number | null;
}

export const TRANSIENT_STATUSES = new Set([408, 429, 502, 503, 504]);

/**
 * The outcome rules of API.md for a final response: success is 2xx with no block signal; a block
 * page fails whatever its status; any other status fails.
 */
export function classify(
  r: { status: number; headers: Headers; html: string; final_url: string; fetch_ms: number; render_ms?: number | null },
): Omit<Final, "screenshot" | "evaluate_results"> {
  const blocked = detectBlock({ status: r.status, headers: r.headers, body: r.html });
  const ok = r.status >= 200 && r.status < 300 && !blocked;
  return {
    kind: "final",
    status: ok ? "completed" : "failed",
    status_code: r.status,
    final_url: r.final_url,
    blocked_reason: blocked,
    error: ok ? null : blocked ? `blocked by ${blocked}` : `the target answered HTTP ${r.status}`,
    html: r.html,
    fetch_ms: r.fetch_ms,
    render_ms: r.render_ms ?? null,
  };
}

/** Seconds from a Retry-After header (delta or HTTP date), or null. */
export function retryAfterSeconds(h: string | null, nowMs: number): number | null {
  if (!h) return null;
  const n = Number(h);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const d = Date.parse(h);
  return Number.isNaN(d) ? null : Math.max(0, Math.ceil((d - nowMs) / 1000));
}
