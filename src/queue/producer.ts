import { pendingJobsPage } from "../db/jobs";
import type { DispatchMessage, JobMessage } from "./messages";

/** Queues.sendBatch takes at most 100 messages and 256 KB per call. */
const SEND_MAX_MESSAGES = 100;
const SEND_MAX_BYTES = 250_000;
/** Jobs read and enqueued per dispatch step. */
export const DISPATCH_PAGE = 1_000;

async function sendChunked(queue: Queue<JobMessage>, msgs: JobMessage[]) {
  let chunk: MessageSendRequest<JobMessage>[] = [];
  let bytes = 0;
  const flush = async () => {
    if (chunk.length) await queue.sendBatch(chunk);
    chunk = [];
    bytes = 0;
  };
  for (const m of msgs) {
    const size = JSON.stringify(m).length + 100;
    if (chunk.length === SEND_MAX_MESSAGES || bytes + size > SEND_MAX_BYTES) await flush();
    chunk.push({ body: m, contentType: "json" });
    bytes += size;
  }
  await flush();
}

/**
 * Enqueues one page of a run's pending jobs (fetch jobs and browser jobs to their own queues) and,
 * when more remain, a dispatch message for the next page. POST /run calls it for the first page,
 * so small runs start at once and a 100,000-job run still returns in one page's time.
 */
export async function dispatchPage(env: Env, d: { run_id: string; tenant: string; created_at: string; after_job_id: string }, pageSize = DISPATCH_PAGE) {
  const rows = await pendingJobsPage(env.DB, d.run_id, d.created_at, d.after_job_id, pageSize);
  const fetchJobs: JobMessage[] = [];
  const browserJobs: JobMessage[] = [];
  for (const r of rows) {
    const m: JobMessage = { kind: "job", job_id: r.job_id, run_id: d.run_id, tenant: d.tenant, url: r.url, browser: r.browser === 1, spec: JSON.parse(r.spec) };
    (m.browser ? browserJobs : fetchJobs).push(m);
  }
  await Promise.all([sendChunked(env.JOBS as Queue<JobMessage>, fetchJobs), sendChunked(env.BROWSER_JOBS as Queue<JobMessage>, browserJobs)]);
  const last = rows.at(-1);
  if (rows.length === pageSize && last) {
    const next: DispatchMessage = { kind: "dispatch", run_id: d.run_id, tenant: d.tenant, created_at: d.created_at, after_job_id: last.job_id };
    await env.JOBS.send(next, { contentType: "json" });
  }
  return rows.length;
}
