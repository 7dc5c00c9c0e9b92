import { allowLoopback, browserPageConcurrency, LIMITS } from "../config";
import { now, iso } from "../clock";
import { claimJobs } from "../db/jobs";
import type { Outcome } from "../do/run-coordinator";
import { BrowserUnavailable, withBrowser, renderPage } from "../fetchers/browser";
import { fetchPage } from "../fetchers/http";
import type { AttemptResult, Final } from "../fetchers/outcome";
import { bodyKey } from "../storage/bodies";
import { runStub } from "../do/stubs";
import type { JobMessage, QueueMessage } from "./messages";
import { dispatchPage } from "./producer";
import { mapLimit } from "./pool";

/**
 * Fetch requests in flight per batch. Workers allow 6 simultaneous outgoing connections per
 * invocation; more only queue inside the runtime.
 */
const FETCH_PARALLELISM = 6;

interface Claimed {
  msg: Message<JobMessage>;
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
      await withBrowser(env, (browser) => runJobs(jobs, env, (c, budget) => renderPage(browser, c.job, budget, allowLoopback(env)), browserPageConcurrency(env)));
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
  for (const m of messages) byJob.set(m.body.job_id, [...(byJob.get(m.body.job_id) ?? []), m]);
  const claimedRows = await claimJobs(env.DB, [...byJob.keys()], iso(startedMs));
  const claimedIds = new Set(claimedRows.map((r) => r.job_id));
  const claimed: Claimed[] = claimedRows.map((r) => ({
    msg: byJob.get(r.job_id)![0],
    job: byJob.get(r.job_id)![0].body,
    attempts: r.attempts,
    created_ms: Date.parse(r.created_at),
    started_ms: Date.parse(r.started_at),
  }));

  // Jobs we did not claim are finished already; the DO confirms it counted them (a no-op unless
  // an earlier recorder died between writing D1 and counting).
  const recorder = new Recorder(env, byJob);
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
    await recorder.add(c.job.run_id, await store(env, c, final));
  });
  await recorder.flush();
  // A job neither counted nor retried (its outcome's flush failed on a timer) is redelivered:
  // a handler that returns would otherwise ack it implicitly.
  for (const [jobId, msgs] of byJob) if (!settled.has(jobId) && !recorder.acked.has(jobId)) for (const m of msgs) m.retry();
}

/**
 * Buffers outcomes and records them with one Durable Object call per run per flush. A flush
 * happens when FLUSH_SIZE outcomes wait or the oldest has waited FLUSH_MS, so a fast page is not
 * held back by the slowest page of its batch, while DO calls stay far below one per job.
 * Messages are acked once the DO has counted their job; the rest are left to redelivery.
 */
const FLUSH_SIZE = 25;
const FLUSH_MS = 500;

class Recorder {
  private outcomes = new Map<string, Outcome[]>();
  private reconciling = new Map<string, string[]>();
  private size = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  readonly acked = new Set<string>();

  constructor(private env: Env, private byJob: Map<string, Message<JobMessage>[]>) {}

  reconcile(runId: string, jobId: string) {
    this.reconciling.set(runId, [...(this.reconciling.get(runId) ?? []), jobId]);
    this.size++;
  }

  add(runId: string, o: Outcome): Promise<void> {
    this.outcomes.set(runId, [...(this.outcomes.get(runId) ?? []), o]);
    this.size++;
    if (this.size >= FLUSH_SIZE) return this.flush();
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), FLUSH_MS);
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
    const outcomes = this.outcomes;
    const reconciling = this.reconciling;
    this.outcomes = new Map();
    this.reconciling = new Map();
    this.size = 0;
    const runIds = new Set([...outcomes.keys(), ...reconciling.keys()]);
    await Promise.all(
      [...runIds].map(async (runId) => {
        const { counted } = await runStub(this.env, runId).record(outcomes.get(runId) ?? [], reconciling.get(runId) ?? []);
        for (const id of counted) {
          this.acked.add(id);
          for (const m of this.byJob.get(id) ?? []) m.ack();
        }
      }),
    );
  }
}

/** Puts the page and screenshot in R2 and shapes the outcome the run's DO records. */
async function store(env: Env, c: Claimed, r: Final): Promise<Outcome> {
  const at = now();
  const tenant = c.job.tenant;
  let body_key: string | null = null;
  let screenshot_key: string | null = null;
  const puts: Promise<unknown>[] = [];
  if (r.html !== null) {
    body_key = bodyKey(at, tenant, c.job.run_id, c.job.job_id, c.attempts, "html");
    puts.push(env.BODIES.put(body_key, r.html, { httpMetadata: { contentType: "text/html; charset=utf-8" } }));
  }
  if (r.screenshot) {
    screenshot_key = bodyKey(at, tenant, c.job.run_id, c.job.job_id, c.attempts, "png");
    puts.push(env.BODIES.put(screenshot_key, r.screenshot, { httpMetadata: { contentType: "image/png" } }));
  }
  await Promise.all(puts);
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
    body_key,
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
    byRun.set(b.run_id, [
      ...(byRun.get(b.run_id) ?? []),
      {
        job_id: b.job_id, status: "failed", status_code: null, final_url: null, blocked_reason: null,
        error: "worker failure: the job kept failing inside the worker and outlived its retries",
        queue_wait_ms: null, fetch_ms: null, render_ms: null, body_key: null, screenshot_key: null, result_meta: null,
      },
    ]);
  }
  await Promise.all([...byRun].map(([runId, outs]) => runStub(env, runId).record(outs)));
  batch.ackAll();
}
