import { allowLoopback, LIMITS } from "../config";
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
/** Browser pages open at once in the one browser a batch shares. */
export const BROWSER_PAGES = 3;

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
      await withBrowser(env, (browser) => runJobs(jobs, env, (c, budget) => renderPage(browser, c.job, budget, allowLoopback(env)), BROWSER_PAGES));
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

  const results = await mapLimit(claimed, parallelism, async (c) => {
    const r = await attempt(c, c.job.spec.timeout);
    return { c, r };
  });

  const outcomes = new Map<string, Outcome[]>();
  const add = (runId: string, o: Outcome) => outcomes.set(runId, [...(outcomes.get(runId) ?? []), o]);
  const retries: { c: Claimed; delay: number }[] = [];
  await mapLimit(results, 8, async ({ c, r }) => {
    if (r.kind === "transient" && c.attempts < LIMITS.maxAttempts) {
      retries.push({ c, delay: backoffSeconds(c.attempts, r.retry_after_s) });
      return;
    }
    const final: Final =
      r.kind === "final"
        ? r
        : { ...r, kind: "final", status: "failed", blocked_reason: null, screenshot: null, evaluate_results: null, error: `${r.error} (after ${c.attempts} attempts)` };
    add(c.job.run_id, await store(env, c, final));
  });

  // Jobs we did not claim are finished already; the DO confirms it counted them (a no-op unless
  // an earlier recorder died between writing D1 and counting).
  const reconcile = new Map<string, string[]>();
  for (const [jobId, msgs] of byJob) {
    if (!claimedIds.has(jobId)) reconcile.set(msgs[0].body.run_id, [...(reconcile.get(msgs[0].body.run_id) ?? []), jobId]);
  }
  const runIds = new Set([...outcomes.keys(), ...reconcile.keys()]);
  const counted = new Set<string>();
  await Promise.all(
    [...runIds].map(async (runId) => {
      const res = await runStub(env, runId).record(outcomes.get(runId) ?? [], reconcile.get(runId) ?? []);
      for (const id of res.counted) counted.add(id);
    }),
  );
  for (const { c, delay } of retries) for (const m of byJob.get(c.job.job_id)!) m.retry({ delaySeconds: delay });
  const retried = new Set(retries.map((r) => r.c.job.job_id));
  for (const [jobId, msgs] of byJob) {
    if (retried.has(jobId)) continue;
    // Counted, or unknown to its run (deleted by retention): nothing more will ever happen to it.
    for (const m of msgs) counted.has(jobId) || !claimedIds.has(jobId) ? m.ack() : m.retry();
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
