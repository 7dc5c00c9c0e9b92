import { targetRefusal } from "./fetchers/url-guard";

/** Settings that are not bindings, and the limits API.md promises. One place, so README can cite it. */
export const LIMITS = {
  /** Request bodies over this are refused with 413 before they are parsed. */
  maxBodyBytes: 10 * 1024 * 1024,
  /** A fetched page over this ends the job as failed ("response body exceeds …"). */
  maxResponseBytes: 10 * 1024 * 1024,
  maxRedirects: 10,
  /** Attempts (first try included) for transient failures: network errors, 408, 429, 502-504. */
  maxAttempts: 3,
  /** Backoff of a transient retry: base × 2^(attempt-1), ± 50 % jitter, capped; Retry-After honoured up to the cap. */
  retryBaseSeconds: 1,
  retryCapSeconds: 60,
  /** HTML and screenshots are served for this long after a job completed, then 410. */
  bodyRetentionMs: 48 * 3600_000,
  /** Run and job metadata is kept this long after the run completed, then 404. */
  metadataRetentionMs: 90 * 24 * 3600_000,
  /** Idempotency records live this long. */
  idempotencyTtlMs: 24 * 3600_000,
  /** Size cap of the JSON kept from `evaluate` actions, per job; measured in the page, a value past it stays there. */
  maxEvaluateResultBytes: 64 * 1024,
  /**
   * Height of a full-page screenshot, measured in the page before the capture; taller pages are
   * clipped. 16,384 px is Chrome's usual maximum texture size, past which captures come out wrong.
   */
  maxScreenshotHeightPx: 16_384,
  /** A job's final_url and error past these UTF-8 sizes are cut, with a marker: a page can make its URL any length. */
  maxFinalUrlBytes: 8 * 1024,
  maxErrorBytes: 2 * 1024,
} as const;

export const isLocalDev = (env: Env) => env.LOCAL_DEV === "true";
/** Loopback targets are reachable only in local development (the local target site). */
export const allowLoopback = (env: Env) => isLocalDev(env);

/**
 * The URL guard the browser applies to every request of a rendered page. TEST_REFUSED_HOSTS (a comma
 * list, set by vitest.config.ts) adds hosts to refuse, so the tests can run a server on loopback that
 * a page must not reach; it is read only under LOCAL_DEV, and outside it the guard is targetRefusal alone.
 */
export function urlGuard(env: Env): (url: string) => string | null {
  const opts = { allowLoopback: allowLoopback(env) };
  const listed = isLocalDev(env) ? (env as { TEST_REFUSED_HOSTS?: string }).TEST_REFUSED_HOSTS : undefined;
  const extra = new Set((listed ?? "").split(",").map((h) => h.trim().toLowerCase()).filter(Boolean));
  if (extra.size === 0) return (url) => targetRefusal(url, opts);
  return (url) => {
    const why = targetRefusal(url, opts);
    if (why) return why;
    // targetRefusal has parsed the URL already when it lets it through.
    const host = new URL(url).hostname.toLowerCase();
    return extra.has(host) ? `${host} is refused by TEST_REFUSED_HOSTS` : null;
  };
}

export const maxRequestsPerCollection = (env: Env) => Number(env.MAX_REQUESTS_PER_COLLECTION) || 10_000;
export const maxJobsInFlight = (env: Env) => Number(env.MAX_JOBS_IN_FLIGHT) || 200_000;
/** Pages open at once in the one browser a batch shares: a few, since each costs CPU in a scarce browser. */
export const browserPageConcurrency = (env: Env) => Math.max(1, Math.min(10, Number(env.BROWSER_PAGE_CONCURRENCY) || 3));
