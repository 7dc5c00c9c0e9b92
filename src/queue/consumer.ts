import { allowLoopback, browserPageConcurrency, LIMITS } from "../config";
import { now, iso } from "../clock";
import { claimJobs } from "../db/jobs";
import type { Outcome } from "../do/run-coordinator";
import { BrowserUnavailable, withBrowser, renderPage } from "../fetchers/browser";
import { fetchPage } from "../fetchers/http";
import { keptText, type AttemptResult, type Final } from "../fetchers/outcome";
import { pack, packKey, screenshotKey } from "../storage/bodies";
import { runObject } from "../do/objects";
import type { JobMessage, QueueMessage } from "./messages";
import { dispatchPage } from "./producer";
import { mapLimit, pushTo } from "./pool";

/**
 * Fetch requests in flight per batch. Workers allow 6 simultaneous outgoing connections per
 * invocation; more only queue inside the runtime.
 */
const FETCH_PARALLELISM = 6;

interface Claimed {
  job: JobMessage;
  attempts: number;
  created_ms: number;
  started_ms: number;
}

/** Backoff for a transient failure: exponential with ± 50 % jitter, Retry-After honoured up to the cap. */
export function backoffSeconds(attempt: number, retryAfter: number | null): number {
  const exp = Math.min(LIMITS.retryCapSeconds, LIMITS.retryBaseSeconds * 2 ** (attempt - 1));
  const jittered = Math.max(1, Math.round(exp * (0.5 + Math.random())));
  return Math.min(LIMITS.retryCapSeconds, Math.max(jittered, retryAfter ?? 0));
}

/**
 * The jobs queues' consumer. Per message batch: one D1 statement claims the jobs, each job is
 * fetched or rendered, bodies go to R2, then one Durable Object call per run records the outcomes
 * (which writes the job rows and counters to D1). A message is acked only once its job's outcome
 * is counted; anything that throws leaves the messages to be redelivered, and redelivery is
 * harmless because the claim skips finished jobs and the run's DO counts each job once.
 */
export async function consumeJobs(batch: MessageBatch<QueueMessage>, env: Env): Promise<void> {
  const jobs: Message<JobMessage>[] = [];
  for (const msg of batch.messages) {
    const body = msg.body;
    if (body.kind === "dispatch") {
      await dispatchPage(env, body);
      msg.ack();
    } else {
      jobs.push(msg as Message<JobMessage>);
    }
  }
  if (jobs.length === 0) return;

  const isBrowser = jobs[0].body.browser;
  if (isBrowser) {
    try {
      await withBrowser(env, (s) =>
        runJobs(jobs, env, (c, budget) => renderPage(s, c.job, budget), browserPageConcurrency(env)));
    } catch (e) {
      if (!(e instanceof BrowserUnavailable)) throw e;
      // No browser could be had (rate or concurrency limit): try the same jobs again later; this is
      // not the jobs' fault, and no job was claimed, so no attempt is spent.
      console.warn("browser unavailable, retrying batch", e.message);
      for (const m of jobs) m.retry({ delaySeconds: e.retryAfterSeconds });
    }
  } else {
    await runJobs(jobs, env, (c) => fetchPage(c.job.url, { timeoutMs: c.job.spec.timeout, allowLoopback: allowLoopback(env) }), FETCH_PARALLELISM);
  }
}

async function runJobs(
  messages: Message<JobMessage>[],
  env: Env,
  attempt: (c: Claimed, budgetMs: number) => Promise<AttemptResult>,
  parallelism: number,
) {
  const startedMs = now();
  // A job delivered twice in one batch runs once; every copy is acked with it.
  const byJob = new Map<string, Message<JobMessage>[]>();
  for (const m of messages) pushTo(byJob, m.body.job_id, m);
  const claimedRows = await claimJobs(env.DB, [...byJob.keys()], iso(startedMs));
  const claimedIds = new Set(claimedRows.map((r) => r.job_id));
  const claimed: Claimed[] = claimedRows.map((r) => ({
    job: byJob.get(r.job_id)![0].body,
    attempts: r.attempts,
    created_ms: Date.parse(r.created_at),
    started_ms: Date.parse(r.started_at),
  }));

  // Jobs we did not claim are finished already; the DO confirms it counted them (a no-op unless
  // an earlier recorder died between writing D1 and counting).
  const recorder = new Recorder(env, byJob, messages[0].body.browser ? BROWSER_FLUSH : FETCH_FLUSH);
  const settled = new Set<string>();
  for (const [jobId, msgs] of byJob) if (!claimedIds.has(jobId)) recorder.reconcile(msgs[0].body.run_id, jobId);

  await mapLimit(claimed, parallelism, async (c) => {
    const r = await attempt(c, c.job.spec.timeout);
    if (r.kind === "transient" && c.attempts < LIMITS.maxAttempts) {
      const delaySeconds = backoffSeconds(c.attempts, r.retry_after_s);
      for (const m of byJob.get(c.job.job_id)!) m.retry({ delaySeconds });
      settled.add(c.job.job_id);
      return;
    }
    const final: Final =
      r.kind === "final"
        ? r
        : { ...r, kind: "final", status: "failed", blocked_reason: null, screenshot: null, evaluate_results: null, error: `${r.error} (after ${c.attempts} attempts)` };
    await recorder.add(c, final, await storeScreenshot(env, c, final));
  });
  await recorder.flush();
  // A job neither counted nor retried (its outcome's flush failed on a timer) is redelivered:
  // a handler that returns would otherwise ack it implicitly.
  for (const [jobId, msgs] of byJob) if (!settled.has(jobId) && !recorder.acked.has(jobId)) for (const m of msgs) m.retry();
}

/**
 * Buffers outcomes and records them with one Durable Object call per run per flush. A flush
 * happens when `policy.size` outcomes or FLUSH_BYTES of HTML wait, or the oldest has waited
 * `policy.ms`, so a fast page is not held back by the slowest page of its batch while DO calls stay
 * far below one per job. The pages of a flush go to R2 as one object per run (a "pack"), each job
 * keeping its byte range: one class A operation per flush instead of one per job. Messages are
 * acked once the DO has counted their job; the rest are left to redelivery.
 */
const FLUSH_BYTES = 8 * 1024 * 1024;
/** Fetch jobs finish in milliseconds: flush often enough that results stream. */
const FETCH_FLUSH = { size: 25, ms: 500 };
/** Browser pages take seconds and batches are small: flush about once per batch. */
const BROWSER_FLUSH = { size: 6, ms: 3_000 };

interface Pending {
  c: Claimed;
  outcome: Outcome;
  html: string | null;
}

class Recorder {
  private pending: Pending[] = [];
  private reconciling = new Map<string, string[]>();
  private bytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  readonly acked = new Set<string>();

  constructor(
    private env: Env,
    private byJob: Map<string, Message<JobMessage>[]>,
    private policy: { size: number; ms: number },
  ) {}

  reconcile(runId: string, jobId: string) {
    pushTo(this.reconciling, runId, jobId);
  }

  add(c: Claimed, r: Final, screenshot_key: string | null): Promise<void> {
    this.pending.push({ c, outcome: outcomeOf(c, r, screenshot_key), html: r.html });
    this.bytes += r.html?.length ?? 0;
    if (this.pending.length >= this.policy.size || this.bytes >= FLUSH_BYTES) return this.flush();
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.policy.ms);
    return Promise.resolve();
  }

  /** Serialised, so flushes never overlap; an error surfaces to the caller (and the batch is retried). */
  flush(): Promise<void> {
    const next = this.chain.then(() => this.flushNow());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async flushNow() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.pending;
    const reconciling = this.reconciling;
    this.pending = [];
    this.reconciling = new Map();
    this.bytes = 0;
    const byRun = new Map<string, Pending[]>();
    for (const p of pending) pushTo(byRun, p.c.job.run_id, p);
    const runIds = new Set([...byRun.keys(), ...reconciling.keys()]);
    await Promise.all(
      [...runIds].map(async (runId) => {
        const items = byRun.get(runId) ?? [];
        await this.storePages(runId, items);
        const { counted } = await runObject(this.env, runId).record(items.map((p) => p.outcome), reconciling.get(runId) ?? []);
        for (const id of counted) {
          this.acked.add(id);
          for (const m of this.byJob.get(id) ?? []) m.ack();
        }
      }),
    );
  }

  /** One R2 object for the pages of this run's outcomes in this flush. */
  private async storePages(runId: string, items: Pending[]) {
    const withHtml = items.filter((p) => p.html !== null);
    if (withHtml.length === 0) return;
    const key = packKey(now(), withHtml[0].c.job.tenant, runId);
    const { bytes, ranges } = pack(withHtml.map((p) => p.html!));
    await this.env.BODIES.put(key, bytes, { httpMetadata: { contentType: "application/octet-stream" } });
    withHtml.forEach((p, i) => {
      p.outcome.body_key = key;
      p.outcome.body_offset = ranges[i].offset;
      p.outcome.body_length = ranges[i].length;
    });
  }
}

/** Screenshots are stored one per job, at once (they are large and browser jobs are few per batch). */
async function storeScreenshot(env: Env, c: Claimed, r: Final): Promise<string | null> {
  if (!r.screenshot) return null;
  const key = screenshotKey(now(), c.job.tenant, c.job.run_id, c.job.job_id, c.attempts);
  await env.BODIES.put(key, r.screenshot, { httpMetadata: { contentType: "image/png" } });
  return key;
}

/** The outcome the run's DO records; the body's place is filled in when its pack is written. */
function outcomeOf(c: Claimed, r: Final, screenshot_key: string | null): Outcome {
  return {
    job_id: c.job.job_id,
    status: r.status,
    status_code: r.status_code,
    ...keptText(r),
    blocked_reason: r.blocked_reason,
    queue_wait_ms: Math.max(0, c.started_ms - c.created_ms),
    fetch_ms: r.fetch_ms,
    render_ms: r.render_ms,
    body_key: null,
    body_offset: null,
    body_length: null,
    screenshot_key,
    result_meta: r.evaluate_results ? JSON.stringify({ evaluate_results: r.evaluate_results }) : null,
  };
}

/**
 * The dead-letter consumer: a message that outlived its retries ends its job as failed
 * ("worker failure") through the same record path, so a late success racing it is still counted once.
 */
export async function consumeDeadLetters(batch: MessageBatch<QueueMessage>, env: Env): Promise<void> {
  const byRun = new Map<string, Outcome[]>();
  for (const msg of batch.messages) {
    const b = msg.body;
    if (b.kind === "dispatch") {
      // A fan-out step that kept failing: try once more from here; if that fails too, the run's
      // deadline ends the jobs it did not enqueue.
      await dispatchPage(env, b);
      continue;
    }
    pushTo(byRun, b.run_id, {
      job_id: b.job_id, status: "failed", status_code: null, final_url: null, blocked_reason: null,
      error: "worker failure: the job kept failing inside the worker and outlived its retries",
      queue_wait_ms: null, fetch_ms: null, render_ms: null, body_key: null, body_offset: null, body_length: null, screenshot_key: null, result_meta: null,
    });
  }
  await Promise.all([...byRun].map(([runId, outs]) => runObject(env, runId).record(outs)));
  batch.ackAll();
}
