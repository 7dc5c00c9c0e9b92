import { now } from "../clock";
import { LIMITS, settings } from "../config";
import { type JobMessage, pageOutcome } from "../domain";
import { BrowserUnavailable, renderPage, withBrowser } from "../fetchers/browser";
import { fetchPage } from "../fetchers/http";
import { type AttemptResult, type Final, keptText, type Transient } from "../fetchers/outcome";
import { screenshotKey } from "../storage/bodies";
import { type Outgoing, sendJobs } from "./dispatch";
import { parseQueueMessage } from "./messages";
import { mapLimit, pushTo } from "./pool";
import { keptFromPage } from "../kept-results";
import { BROWSER_FLUSH, endedRuns, FETCH_FLUSH, type FlushPolicy, Recorder } from "./recorder";

/**
 * Fetch requests in flight per batch. Workers allow 6 simultaneous outgoing connections per
 * invocation; more only queue inside the runtime.
 */
const FETCH_PARALLELISM = 6;

/**
 * A job starts only within this long of its batch's start; the rest go back to the queue unchanged
 * (no attempt spent). With the 120 s job timeout cap, a batch ends within its grace + 120 s + one
 * flush, far inside the 15 minutes a queue consumer invocation may run, whatever the batch holds.
 * Fetch: a batch of 50, 6 at a time, starts its last job after 8 pages' time (4 s at 0.5 s a page),
 * and a batch of hanging pages holds its consumer for one timeout, not nine. Browser: a batch of 24,
 * 3 pages at a time, starts its last page after 7 pages' time (21 s at 3 s a page); a shorter grace
 * would hand the batch's last pages back to the queue as a matter of course, one more batch and
 * one more record() each time.
 */
export const START_GRACE_MS = { fetch: 15_000, browser: 45_000 } as const;

/** How a consumer works through one batch of a queue. */
export interface BatchPlan {
  /** Jobs in flight at once. */
  parallelism: number;
  flush: FlushPolicy;
  /** START_GRACE_MS of the queue. */
  graceMs: number;
}

export const FETCH_PLAN: BatchPlan = {
  parallelism: FETCH_PARALLELISM,
  flush: FETCH_FLUSH,
  graceMs: START_GRACE_MS.fetch,
};

export const browserPlan = (env: Env): BatchPlan => ({
  parallelism: settings(env).BROWSER_PAGE_CONCURRENCY,
  flush: BROWSER_FLUSH,
  graceMs: START_GRACE_MS.browser,
});

/** Backoff for a transient failure: exponential with ± 50 % jitter, Retry-After honoured up to the cap. */
export function backoffSeconds(attempt: number, retryAfter: number | null): number {
  const exp = Math.min(LIMITS.retryCapSeconds, LIMITS.retryBaseSeconds * 2 ** (attempt - 1));
  const jittered = Math.max(1, Math.round(exp * (0.5 + Math.random())));
  return Math.min(LIMITS.retryCapSeconds, Math.max(jittered, retryAfter ?? 0));
}

/** A 429 or 503 with Retry-After slows the host for the tenant (API.md): that pause in ms, else null. */
export function hostBackoffMs(r: Pick<Transient, "status_code" | "retry_after_s">): number | null {
  if (r.retry_after_s === null || (r.status_code !== 429 && r.status_code !== 503)) return null;
  return r.retry_after_s * 1000;
}

/**
 * Orders a batch's jobs so tenants take turns (and within a tenant, runs): a tenant whose jobs
 * share a batch with another's hanging pages gets its share of the first free slots.
 */
export function fairOrder(jobs: JobMessage[]): JobMessage[] {
  const byTenant = new Map<string, Map<string, JobMessage[]>>();
  for (const j of jobs) {
    const runs = byTenant.get(j.tenant) ?? new Map<string, JobMessage[]>();
    byTenant.set(j.tenant, runs);
    pushTo(runs, j.run_id, j);
  }
  const queues = [...byTenant.values()].map((runs) => interleave([...runs.values()]));
  return interleave(queues);
}

function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  for (let i = 0; out.length < lists.reduce((n, l) => n + l.length, 0); i++) {
    for (const l of lists) if (i < l.length) out.push(l[i]);
  }
  return out;
}

type Attempt = (job: JobMessage, budgetMs: number) => Promise<AttemptResult>;

/**
 * The job queues' consumer. Each message's fate is its own: acked once its job's outcome is
 * counted by the run's object, re-sent (attempt + 1, after a backoff) on a transient failure,
 * re-sent unchanged when it could not start in time, retried by the queue when anything on the
 * way failed. A body that is not a job is dropped alone. A job delivered twice in one batch runs
 * once and every copy shares its fate.
 */
export async function consumeJobs(batch: MessageBatch<unknown>, env: Env, browser: boolean): Promise<void> {
  const copies = new Map<string, Message<unknown>[]>();
  const jobs: JobMessage[] = [];
  for (const msg of batch.messages) {
    const parsed = parseQueueMessage(msg.body);
    if (!parsed.ok) {
      console.error(`dropping a message on ${batch.queue} (id ${msg.id}): ${parsed.reason}`);
      msg.ack();
      continue;
    }
    const job = parsed.message;
    if (!copies.has(job.job_id)) jobs.push(job);
    pushTo(copies, job.job_id, msg);
  }
  if (jobs.length === 0) return;
  const fates = new BatchFates(copies);
  if (browser) {
    try {
      await withBrowser(env, (b) => {
        const render: Attempt = (j, budget) => renderPage(b, j, budget);
        return runJobs(env, jobs, fates, render, browserPlan(env));
      });
    } catch (e) {
      if (!(e instanceof BrowserUnavailable)) {
        // The browser broke mid-batch: jobs not yet decided go back through the queue's retry.
        console.error("browser batch failed", e);
      } else {
        // No browser could be had (rate or concurrency limit): not the jobs' fault, so no attempt is spent.
        console.warn("browser unavailable, deferring batch", e.message);
        for (const j of jobs) if (!fates.decided(j.job_id)) fates.resend(j, e.retryAfterSeconds);
      }
    }
  } else {
    const fetchOne: Attempt = (j) =>
      fetchPage(j.url, { timeoutMs: j.spec.timeout, allowLoopback: settings(env).LOCAL_DEV, send: j.spec });
    await runJobs(env, jobs, fates, fetchOne, FETCH_PLAN);
  }
  await fates.settle(env);
}

async function runJobs(env: Env, jobs: JobMessage[], fates: BatchFates, attempt: Attempt, plan: BatchPlan) {
  const batchStart = Date.now();
  // On the clock the run's object stamps releases with (they differ only in tests).
  const takenMs = now();
  const recorder = new Recorder(env, plan.flush, (id) => fates.ack(id));
  await mapLimit(fairOrder(jobs), plan.parallelism, async (job) => {
    if (endedRuns.has(job.run_id)) return fates.ack(job.job_id);
    if (Date.now() - batchStart > plan.graceMs) return fates.resend(job, 0);
    const startedMs = now();
    const r = await attempt(job, job.spec.timeout);
    const hostBackoff = r.kind === "transient" ? hostBackoffMs(r) : null;
    if (r.kind === "transient" && job.attempt < LIMITS.maxAttempts) {
      // The host asked for a pause: the job waits for it as a pending job of its run (the gate holds
      // every job of the tenant to that host back), not in the queue holding its slot.
      if (hostBackoff !== null) return recorder.handBack(job, hostBackoff).catch(() => undefined);
      return fates.resend({ ...job, attempt: job.attempt + 1 }, backoffSeconds(job.attempt, r.retry_after_s));
    }
    const final: Final = r.kind === "final" ? r : exhausted(r, job.attempt);
    const screenshot_key = await storeScreenshot(env, job, final);
    const kept = keptResults(job, final);
    // A page can make its URL (and so an error naming it) any length: both are capped here, once.
    const outcome = pageOutcome(
      job.job_id,
      job.attempt,
      { ...final, ...keptText(final) },
      {
        queue_wait_ms: Math.max(0, startedMs - job.released_ms),
        batch_wait_ms: Math.max(0, takenMs - job.released_ms),
        screenshot_key,
        screenshot_bytes: screenshot_key ? final.screenshot!.byteLength : null,
        result_meta: kept.result_meta,
      },
    );
    await recorder.add(job, outcome, final.html, kept.markdown, hostBackoff).catch(() => undefined);
  });
  // A failed flush leaves its jobs undecided: settle() hands them back to the queue.
  await recorder.flush().catch((e) => console.error("recording outcomes failed; their messages are retried", e));
}

/**
 * Made here, where the page is in memory: metadata and extracted so they outlive the HTML (48 h),
 * Markdown so the export reads it rather than converting pages. A page the extractor cannot handle
 * must not lose the job's outcome: it keeps its evaluate results and nulls instead.
 */
function keptResults(job: JobMessage, final: Final): { result_meta: string | null; markdown: string | null } {
  const page = { html: final.html, baseUrl: final.final_url ?? job.url, evaluate_results: final.evaluate_results };
  try {
    return keptFromPage(job.spec, page);
  } catch (e) {
    console.error(`extracting from job ${job.job_id} failed`, e);
    return keptFromPage(job.spec, { ...page, html: null });
  }
}

/** A transient failure on the last attempt is final. */
const exhausted = (r: Extract<AttemptResult, { kind: "transient" }>, attempts: number): Final => ({
  ...r,
  kind: "final",
  status: "failed",
  blocked_reason: null,
  screenshot: null,
  evaluate_results: null,
  error: `${r.error} (after ${attempts} attempts)`,
});

/** Screenshots are stored one per job, at once (they are large and browser jobs are few per batch). */
async function storeScreenshot(env: Env, job: JobMessage, r: Final): Promise<string | null> {
  if (!r.screenshot) return null;
  const key = screenshotKey(now(), job.tenant, job.run_id, job.job_id, job.attempt);
  await env.BODIES.put(key, r.screenshot, { httpMetadata: { contentType: "image/png" } });
  return key;
}

/**
 * What happens to each job's messages: ack (counted), resend (a new message, this one acked), or
 * — for anything left undecided, such as a failed flush — the queue's own retry.
 */
class BatchFates {
  private acked = new Set<string>();
  private resends = new Map<string, Outgoing>();

  constructor(private copies: Map<string, Message<unknown>[]>) {}

  decided(jobId: string) {
    return this.acked.has(jobId) || this.resends.has(jobId);
  }

  ack(jobId: string) {
    this.acked.add(jobId);
    for (const m of this.copies.get(jobId) ?? []) m.ack();
  }

  resend(job: JobMessage, delaySeconds: number) {
    this.resends.set(job.job_id, { body: job, delaySeconds: delaySeconds > 0 ? delaySeconds : undefined });
  }

  /** Sends the re-sends, then acks them; when the send fails, the originals are retried by the queue. */
  async settle(env: Env) {
    const resends = [...this.resends.values()].filter((r) => !this.acked.has(r.body.job_id));
    let sent = false;
    if (resends.length) {
      try {
        await sendJobs(env, resends);
        sent = true;
      } catch (e) {
        console.error("re-sending jobs failed; the queue retries them", e);
      }
    }
    for (const [jobId, msgs] of this.copies) {
      if (this.acked.has(jobId)) continue;
      const r = this.resends.get(jobId);
      for (const m of msgs) {
        if (r && sent) m.ack();
        else m.retry(r?.delaySeconds ? { delaySeconds: r.delaySeconds } : undefined);
      }
    }
  }
}
