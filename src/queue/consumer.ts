import { allowLoopback, browserPageConcurrency, LIMITS } from "../config";
import { now, iso } from "../clock";
import { claimJobs } from "../db/jobs";
import { failedOutcome, type Outcome } from "../do/run-coordinator";
import { BrowserUnavailable, withBrowser, renderPage } from "../fetchers/browser";
import { fetchPage } from "../fetchers/http";
import type { AttemptResult, Final } from "../fetchers/outcome";
import { pack, packKey, screenshotKey } from "../storage/bodies";
import { runObject } from "../do/objects";
import { parseQueueMessage, type DispatchMessage, type JobMessage } from "./messages";
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

// Every message's fate is its own. Each message of a batch is settled explicitly: acked once its
// job is counted (or its fan-out step done), retried alone when its own step failed, acked and
// logged when its body is malformed (it could never succeed). So one bad message never holds back
// or re-runs the others of its batch. When a dependency (D1, R2, a Durable Object, the queue)
// failed for some of them, the handler rethrows once everything is settled: Queues counts the
// invocation as failed and scales consumers down while a dependency fails, and the explicit acks
// and retries stand (a failed invocation retries only the messages it left unsettled: none).
// Locally, miniflare's broker retries a whole batch whose handler threw; redelivery is harmless
// (the claim skips finished jobs, the run's DO counts each job once), only slower.

/** Thrown after every message of the batch was settled, to report the steps that failed. */
export class ConsumerFailures extends Error {
  constructor(readonly failures: unknown[]) {
    const first = failures[0] instanceof Error ? failures[0].message : String(failures[0]);
    super(`${failures.length} step(s) failed and their messages were retried; the first: ${first}`);
    this.name = "ConsumerFailures";
  }
}

function reportFailures(failures: unknown[]): void {
  if (failures.length === 0) return;
  for (const f of failures) console.error("queue consumer step failed; its messages will be retried", f);
  throw new ConsumerFailures(failures);
}

interface Routed {
  jobs: Message<JobMessage>[];
  dispatches: Message<DispatchMessage>[];
}

/** Sorts a batch by message kind. A malformed message is acked and logged here: no retry can fix it. */
export function routeMessages(messages: readonly Message<unknown>[]): Routed {
  const routed: Routed = { jobs: [], dispatches: [] };
  for (const msg of messages) {
    const parsed = parseQueueMessage(msg.body);
    if (!parsed.ok) {
      console.error("malformed queue message acked without processing", { id: msg.id, reason: parsed.reason });
      msg.ack();
    } else if (parsed.message.kind === "job") {
      routed.jobs.push(msg as Message<JobMessage>);
    } else {
      routed.dispatches.push(msg as Message<DispatchMessage>);
    }
  }
  return routed;
}

/** One fan-out step. Failing, it is retried alone; the jobs delivered with it go on. Returns its failure. */
async function dispatchOne(msg: Message<DispatchMessage>, env: Env): Promise<unknown[]> {
  try {
    await dispatchPage(env, msg.body);
    msg.ack();
    return [];
  } catch (e) {
    msg.retry();
    return [e];
  }
}

/**
 * The jobs queues' consumer. Per message batch: one D1 statement claims the jobs, each job is
 * fetched or rendered, bodies go to R2, then one Durable Object call per run records the outcomes
 * (which writes the job rows and counters to D1). A message is acked only once its job's outcome
 * is counted, and retried otherwise; redelivery is harmless because the claim skips finished jobs
 * and the run's DO counts each job once.
 */
export async function consumeJobs(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const { jobs, dispatches } = routeMessages(batch.messages);
  const failures = await Promise.all([...dispatches.map((m) => dispatchOne(m, env)), runJobMessages(jobs, env)]);
  reportFailures(failures.flat());
}

async function runJobMessages(jobs: Message<JobMessage>[], env: Env): Promise<unknown[]> {
  if (jobs.length === 0) return [];
  if (!jobs[0].body.browser) {
    const fetchOne = (c: Claimed) =>
      fetchPage(c.job.url, { timeoutMs: c.job.spec.timeout, allowLoopback: allowLoopback(env) });
    return runJobs(jobs, env, fetchOne, FETCH_PARALLELISM);
  }
  try {
    return await withBrowser(env, (browser) => {
      const render = (c: Claimed, budgetMs: number) => renderPage(browser, c.job, budgetMs, allowLoopback(env));
      return runJobs(jobs, env, render, browserPageConcurrency(env));
    });
  } catch (e) {
    // runJobs settles its messages and does not throw, so this is the browser's acquisition
    // failing before any job ran. Rate and concurrency limits are not the jobs' fault, and nothing
    // was claimed, so no attempt is spent.
    const delaySeconds = e instanceof BrowserUnavailable ? e.retryAfterSeconds : undefined;
    console.warn("no browser for this batch, retrying it", e instanceof Error ? e.message : e);
    for (const m of jobs) m.retry({ delaySeconds });
    return e instanceof BrowserUnavailable ? [] : [e];
  }
}

/**
 * The messages of one batch by job id. A job delivered twice in one batch runs once and all its
 * copies share its fate; each job is settled once, by the first decision.
 */
class JobMessages {
  private byJob = new Map<string, Message<JobMessage>[]>();
  private settled = new Set<string>();

  constructor(messages: Message<JobMessage>[]) {
    for (const m of messages) pushTo(this.byJob, m.body.job_id, m);
  }

  ids = () => [...this.byJob.keys()];
  body = (jobId: string) => this.byJob.get(jobId)![0].body;

  ack(jobId: string) {
    if (!this.settle(jobId)) return;
    for (const m of this.byJob.get(jobId) ?? []) m.ack();
  }

  retry(jobId: string, delaySeconds?: number) {
    if (!this.settle(jobId)) return;
    for (const m of this.byJob.get(jobId) ?? []) m.retry({ delaySeconds });
  }

  /** Redelivers every job not settled yet, such as one whose outcome could not be recorded. */
  retryUnsettled() {
    for (const jobId of this.byJob.keys()) this.retry(jobId);
  }

  private settle(jobId: string): boolean {
    if (this.settled.has(jobId) || !this.byJob.has(jobId)) return false;
    this.settled.add(jobId);
    return true;
  }
}

/** Runs a batch of job messages and settles every one of them; returns the failures it met. */
async function runJobs(
  messages: Message<JobMessage>[],
  env: Env,
  attempt: (c: Claimed, budgetMs: number) => Promise<AttemptResult>,
  parallelism: number,
): Promise<unknown[]> {
  const jobs = new JobMessages(messages);
  const failures: unknown[] = [];
  try {
    const startedMs = now();
    const claimedRows = await claimJobs(env.DB, jobs.ids(), iso(startedMs));
    const claimedIds = new Set(claimedRows.map((r) => r.job_id));
    const claimed: Claimed[] = claimedRows.map((r) => ({
      job: jobs.body(r.job_id),
      attempts: r.attempts,
      created_ms: Date.parse(r.created_at),
      started_ms: Date.parse(r.started_at),
    }));

    // Jobs we did not claim are finished already; the DO confirms it counted them (a no-op unless
    // an earlier recorder died between writing D1 and counting).
    const recorder = new Recorder(env, jobs, messages[0].body.browser ? BROWSER_FLUSH : FETCH_FLUSH, failures);
    for (const jobId of jobs.ids()) if (!claimedIds.has(jobId)) recorder.reconcile(jobs.body(jobId).run_id, jobId);

    await mapLimit(claimed, parallelism, async (c) => {
      try {
        await runOne(c, env, attempt, jobs, recorder);
      } catch (e) {
        // Its attempt or its screenshot's upload threw: this job alone is tried again.
        failures.push(e);
        jobs.retry(c.job.job_id);
      }
    });
    await recorder.flush();
  } catch (e) {
    // The claim failed: no job of the batch ran.
    failures.push(e);
  }
  // A job neither counted nor retried (its outcome's flush failed) is redelivered: a handler that
  // returns would otherwise ack it implicitly.
  jobs.retryUnsettled();
  return failures;
}

async function runOne(
  c: Claimed,
  env: Env,
  attempt: (c: Claimed, budgetMs: number) => Promise<AttemptResult>,
  jobs: JobMessages,
  recorder: Recorder,
) {
  const r = await attempt(c, c.job.spec.timeout);
  if (r.kind === "transient" && c.attempts < LIMITS.maxAttempts) {
    jobs.retry(c.job.job_id, backoffSeconds(c.attempts, r.retry_after_s));
    return;
  }
  const final: Final =
    r.kind === "final"
      ? r
      : {
          ...r, kind: "final", status: "failed", blocked_reason: null, screenshot: null, evaluate_results: null,
          error: `${r.error} (after ${c.attempts} attempts)`,
        };
  await recorder.add(c, final, await storeScreenshot(env, c, final));
}

/**
 * Buffers outcomes and records them with one Durable Object call per run per flush. A flush
 * happens when `policy.size` outcomes or FLUSH_BYTES of HTML wait, or the oldest has waited
 * `policy.ms`, so a fast page is not held back by the slowest page of its batch while DO calls stay
 * far below one per job. The pages of a flush go to R2 as one object per run (a "pack"), each job
 * keeping its byte range: one class A operation per flush instead of one per job. Messages are
 * acked once the DO has counted their job; the rest are retried.
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

  constructor(
    private env: Env,
    private jobs: JobMessages,
    private policy: { size: number; ms: number },
    private failures: unknown[],
  ) {}

  reconcile(runId: string, jobId: string) {
    pushTo(this.reconciling, runId, jobId);
  }

  add(c: Claimed, r: Final, screenshot_key: string | null): Promise<void> {
    this.pending.push({ c, outcome: outcomeOf(c, r, screenshot_key), html: r.html });
    this.bytes += r.html?.length ?? 0;
    if (this.pending.length >= this.policy.size || this.bytes >= FLUSH_BYTES) return this.flush();
    this.timer ??= setTimeout(() => void this.flush(), this.policy.ms);
    return Promise.resolve();
  }

  /**
   * Serialised, so flushes never overlap. Never rejects: a run whose outcomes could not be
   * recorded leaves its jobs unsettled (to be retried) and its error in `failures`, and the other
   * runs of the flush are recorded and acked regardless.
   */
  flush(): Promise<void> {
    this.chain = this.chain.then(() => this.flushNow()).catch((e) => void this.failures.push(e));
    return this.chain;
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
    const record = (runId: string) =>
      this.recordRun(runId, byRun.get(runId) ?? [], reconciling.get(runId) ?? []).catch((e) => {
        this.failures.push(e);
      });
    await Promise.all([...runIds].map(record));
  }

  private async recordRun(runId: string, items: Pending[], reconcileIds: string[]) {
    await this.storePages(runId, items);
    const { counted } = await runObject(this.env, runId).record(items.map((p) => p.outcome), reconcileIds);
    for (const id of counted) this.jobs.ack(id);
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
    final_url: r.final_url,
    blocked_reason: r.blocked_reason,
    error: r.error,
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

const WORKER_FAILURE = "worker failure: the job kept failing inside the worker and outlived its retries";

/**
 * The dead-letter consumer: a message that outlived its retries ends its job as failed
 * ("worker failure") through the same record path, so a late success racing it is still counted
 * once. Each run's jobs are recorded, and their messages settled, apart from other runs'.
 */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const { jobs, dispatches } = routeMessages(batch.messages);
  const byRun = new Map<string, Message<JobMessage>[]>();
  for (const m of jobs) pushTo(byRun, m.body.run_id, m);
  // A dead-lettered fan-out step is tried again from here; past this queue's retries, the run's
  // deadline ends the jobs it did not enqueue.
  const failures = await Promise.all([
    ...dispatches.map((m) => dispatchOne(m, env)),
    ...[...byRun].map(([runId, msgs]) => failRunJobs(env, runId, msgs)),
  ]);
  reportFailures(failures.flat());
}

/** Ends one run's dead-lettered jobs; their messages are acked, or retried, together. */
async function failRunJobs(env: Env, runId: string, msgs: Message<JobMessage>[]): Promise<unknown[]> {
  try {
    await runObject(env, runId).record(msgs.map((m) => failedOutcome(m.body.job_id, WORKER_FAILURE)));
    for (const m of msgs) m.ack();
    return [];
  } catch (e) {
    for (const m of msgs) m.retry();
    return [e];
  }
}
