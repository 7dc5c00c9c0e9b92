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
  /** The least a run keeps released: one fetch batch, so a consumer's batch is never starved. */
  minWindow: 50,
  /** Browser jobs take seconds each: a run that is mostly browser jobs keeps at least one browser batch. */
  minBrowserWindow: 24,
  /**
   * The most one run keeps released. With 250 fetch consumers holding 6 pages each, 1,500 pages run at
   * once; 5,000 leaves room for the queue part of the window, so pacing never stops the queue scaling.
   */
  maxWindow: 5_000,
  /** Shared by all of a tenant's runs in progress. */
  tenantWindow: 5_000,
  /** Beyond its jobs' own time in a worker, a run keeps about this many seconds of its throughput queued. */
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

/**
 * The window for a run (Little's law): its measured throughput times the time a job spends out,
 * which is its time in a worker (from its batch's start to its record) plus PACING.queueSeconds of
 * waiting. While the window is what limits the run, jobs wait less than that, the measured rate rises
 * and the window grows; once the workers are the limit, the rate stops rising and the queue part
 * settles at about queueSeconds. A run of hanging pages (a long time in a worker, a low rate) keeps the minimum.
 */
export function windowFor(ratePerSecond: number, serviceMs: number, tenantRuns: number, browserHeavy: boolean): number {
  const own = Math.ceil(ratePerSecond * (serviceMs / 1000 + PACING.queueSeconds));
  const share = Math.floor(PACING.tenantWindow / Math.max(1, tenantRuns));
  const least = browserHeavy ? PACING.minBrowserWindow : PACING.minWindow;
  return Math.max(Math.min(least, share), Math.min(own, PACING.maxWindow, share));
}

/** The first window, before any outcome: the least the run keeps. */
export const initialWindow = (tenantRuns: number, browserHeavy: boolean) => windowFor(0, 0, tenantRuns, browserHeavy);

/** Whether browser jobs are most of a run's jobs (they take seconds each and batch by 24). */
export const isBrowserHeavy = (total: number, browserJobs: number) => browserJobs * 2 > total;

/** Moving average of the jobs' own time in a worker, each batch of outcomes weighing a quarter. */
export const nextServiceMs = (previous: number | null, sample: number) =>
  previous === null ? sample : (previous * 3) / 4 + sample / 4;

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
