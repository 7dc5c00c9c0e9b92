/**
 * How many of a run's jobs may wait in the shared queues, and how long a released job may stay
 * out before its run's object releases it again. Pure, so the policy is table-tested on its own.
 *
 * A run never floods the queue: it keeps a window of released jobs, refilled as outcomes arrive.
 * The window follows the run's own throughput (about PACING.queueSeconds of work), so a run of
 * fast pages keeps every consumer busy while a run of hanging pages shrinks to PACING.minWindow
 * and cannot bury another tenant's jobs behind it. A tenant's runs in progress share
 * PACING.tenantWindow between them.
 */
import { LIMITS } from "../config";

export const PACING = {
  /** Released at the start, before any throughput is known: one fetch batch. */
  initialWindow: 50,
  /** Browser jobs take seconds each: a run that is mostly browser jobs starts with one browser batch. */
  initialBrowserWindow: 12,
  minWindow: 12,
  /**
   * The most one run keeps released: covers the production fetch consumers (20 × 50 per batch) twice,
   * so pacing never stops the queue from scaling out.
   */
  maxWindow: 2_000,
  /** Shared by all of a tenant's runs in progress. */
  tenantWindow: 2_000,
  /** A run keeps about this many seconds of its own throughput in the queue. */
  queueSeconds: 2,
  /** How often the throughput estimate takes a new sample. */
  rateSampleMs: 1_000,
  /**
   * Time a released job may stay out beyond its attempts before it is released again: queue
   * delivery delays and deferrals by busy consumers.
   */
  leaseSlackMs: 5 * 60_000,
  /** Releases of one job before an unfinished job ends as timeout. */
  maxReleases: 3,
} as const;

/** The window for a run from its measured throughput (jobs/s) and its tenant's runs in progress. */
export function windowFor(ratePerSecond: number, tenantRuns: number): number {
  const own = Math.ceil(ratePerSecond * PACING.queueSeconds);
  const share = Math.floor(PACING.tenantWindow / Math.max(1, tenantRuns));
  return Math.max(PACING.minWindow, Math.min(own, PACING.maxWindow, share));
}

/** The first window, before any outcome: smaller when browser jobs dominate. */
export function initialWindow(total: number, browserJobs: number, tenantRuns: number): number {
  const first = browserJobs * 2 > total ? PACING.initialBrowserWindow : PACING.initialWindow;
  return Math.max(PACING.minWindow, Math.min(first, Math.floor(PACING.tenantWindow / Math.max(1, tenantRuns))));
}

/**
 * Exponentially weighted throughput: each sample (outcomes over the time since the last sample)
 * weighs half, so the window follows a run that slows down within a few seconds.
 */
export function nextRate(previous: number | null, outcomes: number, elapsedMs: number): number {
  const sample = (outcomes * 1000) / Math.max(1, elapsedMs);
  return previous === null ? sample : previous / 2 + sample / 2;
}

/**
 * How long a released job may stay out: every attempt at its timeout plus the longest backoff
 * between attempts, plus slack for queue delays. Past it, the run's object releases it again.
 */
export function leaseMs(timeoutMs: number): number {
  return LIMITS.maxAttempts * (timeoutMs + LIMITS.retryCapSeconds * 1000) + PACING.leaseSlackMs;
}
