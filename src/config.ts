import { z } from "zod";
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
  /**
   * How long the request holding an Idempotency-Key may run before a retry may take over (reusing
   * the id it reserved). Well past any normal request; short enough that a key whose request died
   * is usable again soon.
   */
  idempotencyLeaseMs: 60_000,
  /** The period of AUTH_FAILURE_LIMIT (wrangler.toml): how long an address it refused stays refused here. */
  authFailureWindowMs: 60_000,
  /** Admin tokens shorter than this are refused outside local development. */
  minAdminTokenLength: 32,
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
  /**
   * One request of a collection serialised as JSON (url, custom_id, options), in UTF-8 bytes; past
   * it the create or replace is 422. Half a queue message (128 KB), so a job's message always fits.
   */
  maxRequestBytes: 64 * 1024,
  /** One `evaluate` script, in UTF-8 bytes: leaves room in the request for the URL and other actions. */
  maxScriptBytes: 48 * 1024,
} as const;

const flag = z
  .enum(["true", "false"])
  .default("false")
  .transform((v) => v === "true");
const count = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * The Worker's `[vars]` (wrangler.toml documents each), parsed once per environment object. A bad
 * value fails the first request that reads it with the variable's name, instead of becoming NaN.
 */
const Settings = z.object({
  /** "true" only under `npm start` and the tests: dev credentials, loopback targets. */
  LOCAL_DEV: flag,
  MAX_REQUESTS_PER_COLLECTION: count(1, 100_000, 10_000),
  MAX_JOBS_IN_FLIGHT: count(1, 10_000_000, 200_000),
  BENCH_METRICS: flag,
  BROWSER_PAGE_CONCURRENCY: count(1, 10, 3),
  /** Tests only (read under LOCAL_DEV): hosts the browser's guard refuses besides targetRefusal's. */
  TEST_REFUSED_HOSTS: z.string().optional(),
});
export type Settings = z.infer<typeof Settings>;

const parsed = new WeakMap<object, Settings>();

/** Any object with (some of) the vars: the Worker's env, or a plain object in a unit test. */
export function settings(env: Partial<Record<keyof Settings, string>>): Settings {
  let s = parsed.get(env);
  if (!s) {
    const r = Settings.safeParse(env);
    if (!r.success) {
      const bad = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      throw new Error(`invalid Worker settings (wrangler.toml [vars]): ${bad}`);
    }
    s = r.data;
    parsed.set(env, s);
  }
  return s;
}

/**
 * The URL guard the browser applies to every request of a rendered page. TEST_REFUSED_HOSTS (a comma
 * list, set by vitest.config.ts) adds hosts to refuse, so the tests can run a server on loopback that
 * a page must not reach; it is read only under LOCAL_DEV, and outside it the guard is targetRefusal alone.
 */
export function urlGuard(env: Env): (url: string) => string | null {
  const s = settings(env);
  const opts = { allowLoopback: s.LOCAL_DEV };
  const listed = s.LOCAL_DEV ? s.TEST_REFUSED_HOSTS : undefined;
  const extra = new Set(
    (listed ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  if (extra.size === 0) return (url) => targetRefusal(url, opts);
  return (url) => {
    const why = targetRefusal(url, opts);
    if (why) return why;
    // targetRefusal has parsed the URL already when it lets it through.
    const host = new URL(url).hostname.toLowerCase();
    return extra.has(host) ? `${host} is refused by TEST_REFUSED_HOSTS` : null;
  };
}
