import { z } from "zod";

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
  /** Size cap of the JSON kept from `evaluate` actions, per job. */
  maxEvaluateResultBytes: 64 * 1024,
  /**
   * One request of a collection serialised as JSON (url, custom_id, options), in UTF-8 bytes; past
   * it the create or replace is 422. Half a queue message (128 KB), so a job's message always fits.
   */
  maxRequestBytes: 64 * 1024,
  /** One `evaluate` script, in UTF-8 bytes: leaves room in the request for the URL and other actions. */
  maxScriptBytes: 48 * 1024,
} as const;

const flag = z.enum(["true", "false"]).default("false").transform((v) => v === "true");
const count = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);

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
