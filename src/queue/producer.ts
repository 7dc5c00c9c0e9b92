import { pendingJobsPage, type DispatchRow } from "../db/jobs";
import { runObject } from "../do/objects";
import { failedOutcome } from "../do/run-coordinator";
import { chunkBySize, jsonBytes, MAX_MESSAGE_BODY_BYTES, PLATFORM } from "../sizes";
import type { DispatchMessage, JobMessage } from "./messages";

/** Jobs read and enqueued per dispatch step. */
export const DISPATCH_PAGE = 1_000;

export interface Sized<T> {
  body: T;
  /** UTF-8 bytes of the JSON body. */
  bytes: number;
}

export type BuiltJob = ({ ok: true } & Sized<JobMessage>) | { ok: false; job_id: string; error: string };

/**
 * A pending job's queue message, or why it cannot have one. Requests are capped when accepted, so
 * the second case means a row stored before the cap (or damaged); the job then fails with this
 * error instead of failing every send it is part of.
 */
export function buildJobMessage(d: { run_id: string; tenant: string }, r: DispatchRow): BuiltJob {
  let spec: JobMessage["spec"];
  try {
    spec = JSON.parse(r.spec);
  } catch {
    return { ok: false, job_id: r.job_id, error: "the job could not be queued: its stored options are not valid JSON" };
  }
  const body: JobMessage = {
    kind: "job", job_id: r.job_id, run_id: d.run_id, tenant: d.tenant, url: r.url, browser: r.browser === 1, spec,
  };
  const bytes = jsonBytes(body);
  if (bytes > MAX_MESSAGE_BODY_BYTES) {
    const over = `its message is ${bytes} bytes (UTF-8), over the ${MAX_MESSAGE_BODY_BYTES}-byte limit`;
    return { ok: false, job_id: r.job_id, error: `the job could not be queued: ${over}` };
  }
  return { ok: true, body, bytes };
}

/**
 * The sendBatch calls for messages that each fit a queue message: at most 100 messages and 256 KB
 * per call, each message counted with its envelope margin.
 */
export function sendBatches<T>(msgs: Sized<T>[]): T[][] {
  const limits = { maxBytes: PLATFORM.queueBatchBytes, maxItems: PLATFORM.queueBatchMessages };
  const batches = chunkBySize(msgs, (m) => m.bytes + PLATFORM.queueEnvelopeBytes, limits);
  return batches.map((batch) => batch.map((m) => m.body));
}

async function sendAll(queue: Queue<JobMessage>, msgs: Sized<JobMessage>[]) {
  for (const batch of sendBatches(msgs)) await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" })));
}

/** Jobs that cannot be queued end as failed through the run's normal record path, counted once. */
async function failUnqueueable(env: Env, runId: string, jobs: { job_id: string; error: string }[]) {
  if (jobs.length) await runObject(env, runId).record(jobs.map((j) => failedOutcome(j.job_id, j.error)));
}

/**
 * Enqueues one page of a run's pending jobs (fetch jobs and browser jobs to their own queues) and,
 * when more remain, a dispatch message for the next page. POST /run calls it for the first page,
 * so small runs start at once and a 100,000-job run still returns in one page's time.
 */
export async function dispatchPage(
  env: Env,
  d: { run_id: string; tenant: string; created_at: string; after_job_id: string },
  pageSize = DISPATCH_PAGE,
) {
  const rows = await pendingJobsPage(env.DB, d.run_id, d.created_at, d.after_job_id, pageSize);
  const fetchJobs: Sized<JobMessage>[] = [];
  const browserJobs: Sized<JobMessage>[] = [];
  const unqueueable: { job_id: string; error: string }[] = [];
  for (const r of rows) {
    const built = buildJobMessage(d, r);
    if (!built.ok) unqueueable.push(built);
    else (built.body.browser ? browserJobs : fetchJobs).push(built);
  }
  await Promise.all([
    sendAll(env.JOBS as Queue<JobMessage>, fetchJobs),
    sendAll(env.BROWSER_JOBS as Queue<JobMessage>, browserJobs),
    failUnqueueable(env, d.run_id, unqueueable),
  ]);
  const last = rows.at(-1);
  if (rows.length === pageSize && last) {
    const next: DispatchMessage = {
      kind: "dispatch", run_id: d.run_id, tenant: d.tenant, created_at: d.created_at, after_job_id: last.job_id,
    };
    await env.JOBS.send(next, { contentType: "json" });
  }
  return rows.length;
}
