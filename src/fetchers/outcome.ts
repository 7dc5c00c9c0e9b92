import { LIMITS } from "../config";
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

/** A response as either fetcher saw it: its status, headers and page, and where it ended. */
export interface ResponseSeen {
  status: number;
  headers: Headers;
  html: string;
  final_url: string;
  fetch_ms: number;
  render_ms?: number | null;
}

/**
 * The outcome rules of API.md, for both fetchers: a block page fails whatever its status (retrying
 * a 429 captcha wall only digs deeper); otherwise a transient status (408, 429, 502-504) is worth
 * another attempt, after Retry-After when the target gave one; success is 2xx; any other status fails.
 * The block detector runs once per response.
 */
export function classifyResponse(r: ResponseSeen, nowMs = Date.now()): AttemptResult {
  const blocked = detectBlock({ status: r.status, headers: r.headers, body: r.html });
  if (!blocked && TRANSIENT_STATUSES.has(r.status)) {
    return {
      kind: "transient",
      error: `the target answered HTTP ${r.status}`,
      status_code: r.status,
      final_url: r.final_url,
      html: r.html,
      retry_after_s: retryAfterSeconds(r.headers.get("retry-after"), nowMs),
      fetch_ms: r.fetch_ms,
      render_ms: r.render_ms ?? null,
    };
  }
  const ok = r.status >= 200 && r.status < 300 && !blocked;
  return {
    kind: "final",
    status: ok ? "completed" : "failed",
    status_code: r.status,
    final_url: r.final_url,
    blocked_reason: blocked,
    error: ok ? null : blocked ? `blocked by ${blocked}` : `the target answered HTTP ${r.status}`,
    html: r.html,
    screenshot: null,
    evaluate_results: null,
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

const utf8 = new TextEncoder();

/**
 * `s` when it fits in `maxBytes` of UTF-8, else its longest prefix that fits together with a
 * marker naming the original size, cut between code points. An ASCII string up to a third of the
 * cap cannot be over it, so the common case is not encoded at all.
 */
export function capText(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  const bytes = utf8.encode(s);
  if (bytes.byteLength <= maxBytes) return s;
  const marker = `… [truncated from ${bytes.byteLength} bytes]`;
  let end = Math.max(0, maxBytes - utf8.encode(marker).byteLength);
  // Back off to the first byte of a code point (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + marker;
}

/**
 * The final_url and error a job keeps, within LIMITS: every outcome, fetch or browser, passes here
 * on its way to the run's record. A page can make its URL any length with history.replaceState,
 * and errors quote what pages threw.
 */
export function keptText(r: Pick<Final, "final_url" | "error">): Pick<Final, "final_url" | "error"> {
  return {
    final_url: r.final_url === null ? null : capText(r.final_url, LIMITS.maxFinalUrlBytes),
    error: r.error === null ? null : capText(r.error, LIMITS.maxErrorBytes),
  };
}
