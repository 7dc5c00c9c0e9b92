import type { Job, JobSpec, JobStatus } from "../schemas";
import { decodeCursor, encodeCursor } from "./cursor";
import { retained, retainedSince } from "./runs";

export interface JobRow {
  job_id: string;
  run_id: string;
  tenant: string;
  collection_id: string;
  seq: number;
  url: string;
  custom_id: string | null;
  browser: number;
  spec: string;
  status: JobStatus;
  status_code: number | null;
  final_url: string | null;
  blocked_reason: string | null;
  error: string | null;
  attempts: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  queue_wait_ms: number | null;
  fetch_ms: number | null;
  render_ms: number | null;
  total_ms: number | null;
  body_key: string | null;
  body_offset: number | null;
  body_length: number | null;
  screenshot_key: string | null;
  result_meta: string | null;
}

export function toJob(r: JobRow, bodiesExpired: boolean): Job {
  return {
    job_id: r.job_id,
    run_id: r.run_id,
    collection_id: r.collection_id,
    custom_id: r.custom_id,
    url: r.url,
    browser: r.browser === 1,
    status: r.status,
    status_code: r.status_code,
    final_url: r.final_url,
    blocked_reason: r.blocked_reason,
    error: r.error,
    attempts: r.attempts,
    created_at: r.created_at,
    started_at: r.started_at,
    completed_at: r.completed_at,
    timings: {
      queue_wait_ms: r.queue_wait_ms,
      fetch_ms: r.fetch_ms,
      ...(r.browser === 1 ? { render_ms: r.render_ms } : {}),
      total_ms: r.total_ms,
    },
    result_available: r.body_key !== null && !bodiesExpired,
    screenshot_available: r.screenshot_key !== null && !bodiesExpired,
  };
}

const LIST_COLUMNS = `job_id, run_id, tenant, collection_id, seq, url, custom_id, browser, '' AS spec, status, status_code, final_url,
  blocked_reason, error, attempts, created_at, started_at, completed_at, queue_wait_ms, fetch_ms, render_ms, total_ms,
  body_key, body_offset, body_length, screenshot_key, NULL AS result_meta`;

/**
 * One page of a run's jobs: a keyset range scan on (run_id, created_at, job_id) or
 * (run_id, completed_at, job_id), so its cost does not grow with the run. With order_by=completed_at
 * only finished jobs are listed, and because the run's Durable Object gives every recorded batch a
 * completed_at strictly later than the one before, a cursor or since_completed_at never skips a job
 * that finishes later.
 */
export async function listJobs(
  db: D1Database,
  q: { runId: string; orderBy: "created_at" | "completed_at"; statuses: JobStatus[] | undefined; since?: string; limit: number; cursor?: string },
) {
  const kind = `jobs:${q.orderBy}`;
  const after = decodeCursor(kind, q.cursor, ["timestamp", "uuid"]);
  const col = q.orderBy;
  const where: string[] = ["run_id = ?1"];
  const params: unknown[] = [q.runId];
  const p = (v: unknown) => {
    params.push(v);
    return `?${params.length}`;
  };
  if (q.statuses?.length) where.push(`status IN (SELECT value FROM json_each(${p(JSON.stringify(q.statuses))}))`);
  if (col === "completed_at") where.push("completed_at IS NOT NULL");
  if (q.since) where.push(`completed_at > ${p(q.since)}`);
  if (after) where.push(`(${col}, job_id) > (${p(after[0])}, ${p(after[1])})`);
  const sql = `SELECT ${LIST_COLUMNS} FROM jobs INDEXED BY jobs_by_${col === "created_at" ? "created" : "completed"}
    WHERE ${where.join(" AND ")} ORDER BY ${col}, job_id LIMIT ${p(q.limit + 1)}`;
  const { results } = await db.prepare(sql).bind(...params).all<JobRow>();
  const has_more = results.length > q.limit;
  if (has_more) results.pop();
  const last = results.at(-1);
  return {
    rows: results,
    has_more,
    cursor_next: has_more && last ? encodeCursor(kind, [last[col] as string, last.job_id]) : null,
  };
}

/** A job, while its run is retained: the run's completion decides, so an expired job is never served. */
export const getJob = (db: D1Database, runId: string, jobId: string) =>
  db
    .prepare(
      `SELECT jobs.* FROM jobs JOIN runs ON runs.id = jobs.run_id
       WHERE jobs.job_id = ?1 AND jobs.run_id = ?2 AND ${retained("runs.completed_at", "?3")}`,
    )
    .bind(jobId, runId, retainedSince())
    .first<JobRow>();

/** What a queue message needs to run a job; read in pages by the dispatcher. */
export interface DispatchRow {
  job_id: string;
  url: string;
  browser: number;
  spec: string;
}

export const pendingJobsPage = (db: D1Database, runId: string, createdAt: string, afterJobId: string, limit: number) =>
  db
    .prepare(
      `SELECT job_id, url, browser, spec FROM jobs INDEXED BY jobs_by_created
       WHERE run_id = ?1 AND created_at = ?2 AND job_id > ?3 AND status = 'pending' ORDER BY job_id LIMIT ?4`,
    )
    .bind(runId, createdAt, afterJobId, limit)
    .all<DispatchRow>()
    .then((r) => r.results);

/**
 * Claims a batch of jobs for execution in one statement: pending jobs, and in_progress ones whose
 * previous delivery died, become in_progress with attempts + 1. Jobs already finished (a duplicate
 * delivery, a cancelled or expired run) are not returned, so they are never run again.
 */
export async function claimJobs(db: D1Database, jobIds: string[], startedAt: string) {
  const { results } = await db
    .prepare(
      `UPDATE jobs SET status = 'in_progress', started_at = COALESCE(started_at, ?1), attempts = attempts + 1
       WHERE job_id IN (SELECT value FROM json_each(?2)) AND status IN ('pending', 'in_progress')
       RETURNING job_id, run_id, tenant, attempts, created_at, started_at`,
    )
    .bind(startedAt, JSON.stringify(jobIds))
    .all<{ job_id: string; run_id: string; tenant: string; attempts: number; created_at: string; started_at: string }>();
  return results;
}

/** The terminal fields of one job, as the run's Durable Object writes them. */
export interface TerminalWrite {
  job_id: string;
  status: "completed" | "failed" | "timeout";
  status_code: number | null;
  final_url: string | null;
  blocked_reason: string | null;
  error: string | null;
  queue_wait_ms: number | null;
  fetch_ms: number | null;
  render_ms: number | null;
  total_ms: number | null;
  body_key: string | null;
  body_offset: number | null;
  body_length: number | null;
  screenshot_key: string | null;
  result_meta: string | null;
}

/**
 * Ends jobs in one statement. The `status NOT IN (terminal)` guard makes the first outcome win for
 * good: a late or duplicate outcome changes nothing. RETURNING tells the caller which jobs this
 * call actually ended. The unary `+` on run_id keeps SQLite from driving the join with the
 * (run_id, …) index, which scanned the whole run for every batch; it must look each job up by
 * primary key, so a batch costs its own size whatever the run's size.
 */
export async function finishJobs(db: D1Database, runId: string, completedAt: string, writes: TerminalWrite[]) {
  const { results } = await db
    .prepare(
      `UPDATE jobs SET
         status = json_extract(o.value, '$.status'),
         status_code = json_extract(o.value, '$.status_code'),
         final_url = json_extract(o.value, '$.final_url'),
         blocked_reason = json_extract(o.value, '$.blocked_reason'),
         error = json_extract(o.value, '$.error'),
         queue_wait_ms = COALESCE(json_extract(o.value, '$.queue_wait_ms'), queue_wait_ms),
         fetch_ms = json_extract(o.value, '$.fetch_ms'),
         render_ms = json_extract(o.value, '$.render_ms'),
         total_ms = json_extract(o.value, '$.total_ms'),
         body_key = json_extract(o.value, '$.body_key'),
         body_offset = json_extract(o.value, '$.body_offset'),
         body_length = json_extract(o.value, '$.body_length'),
         screenshot_key = json_extract(o.value, '$.screenshot_key'),
         result_meta = json_extract(o.value, '$.result_meta'),
         completed_at = ?3
       FROM json_each(?2) AS o
       WHERE jobs.job_id = json_extract(o.value, '$.job_id') AND +jobs.run_id = ?1
         AND jobs.status NOT IN ('completed', 'failed', 'timeout')
       RETURNING jobs.job_id, jobs.status`,
    )
    .bind(runId, JSON.stringify(writes), completedAt)
    .all<{ job_id: string; status: TerminalWrite["status"] }>();
  return results;
}

export const jobStatuses = (db: D1Database, jobIds: string[]) =>
  db
    .prepare("SELECT job_id, status FROM jobs WHERE job_id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(jobIds))
    .all<{ job_id: string; status: JobStatus }>()
    .then((r) => r.results);

/**
 * Ends up to `limit` unfinished jobs of a run with one status and error (deadline → timeout,
 * cancel → failed). Chunked so one statement never touches a whole 100,000-job run.
 */
export const finishUnfinished = (db: D1Database, runId: string, status: "failed" | "timeout", error: string, completedAt: string, limit: number) =>
  db
    .prepare(
      `UPDATE jobs SET status = ?2, error = ?3, completed_at = ?4
       WHERE job_id IN (SELECT job_id FROM jobs INDEXED BY jobs_by_created WHERE run_id = ?1 AND status IN ('pending', 'in_progress') LIMIT ?5)
         AND status IN ('pending', 'in_progress')
       RETURNING job_id, status`,
    )
    .bind(runId, status, error, completedAt, limit)
    .all<{ job_id: string; status: "failed" | "timeout" }>()
    .then((r) => r.results);

/**
 * Metadata retention: deletes up to `limit` of a run's jobs in one statement and returns how many
 * it deleted; fewer than `limit` means none is left. Chunked so one statement never holds D1 for a
 * whole 100,000-job run, and idempotent, so a deletion cut short continues where it stopped.
 */
export async function deleteJobsChunk(db: D1Database, runId: string, limit: number): Promise<number> {
  const r = await db
    .prepare(
      `DELETE FROM jobs WHERE job_id IN
         (SELECT job_id FROM jobs INDEXED BY jobs_by_created WHERE run_id = ?1 LIMIT ?2)`,
    )
    .bind(runId, limit)
    .run();
  return r.meta.changes;
}

export type { JobSpec };
