import { iso, now } from "../clock";
import { LIMITS } from "../config";
import type { RunStatus, RunSummary } from "../schemas";
import { decodeCursor, encodeCursor } from "./cursor";

/**
 * Metadata retention (API.md, Retention): a run and its jobs exist until LIMITS.metadataRetentionMs
 * after the run completed, whether or not the sweep has deleted them yet. Every D1 read of a run or
 * of its jobs carries this predicate on the run's completed_at (`col`), with `param` bound to
 * retainedSince(); the sweep deletes exactly the runs it excludes.
 */
export const retained = (col: string, param: string) => `(${col} IS NULL OR ${col} >= ${param})`;
/** The oldest completion instant still retained at `nowMs` (ISO strings of one format order as instants). */
export const retainedSince = (nowMs: number = now()) => iso(nowMs - LIMITS.metadataRetentionMs);
/** The same rule for the run's Durable Object, which keeps completed_at in milliseconds. */
export const metadataExpired = (completedAtMs: number | null, nowMs: number) =>
  completedAtMs !== null && completedAtMs < nowMs - LIMITS.metadataRetentionMs;

export interface RunRow {
  id: string;
  tenant: string;
  collection_id: string;
  status: RunStatus;
  total_requests: number;
  success_requests: number;
  failed_requests: number;
  timeout_requests: number;
  created_at: string;
  completed_at: string | null;
  deadline_at: string;
}

export const toSummary = (r: RunRow): RunSummary => ({
  run_id: r.id,
  status: r.status,
  total_requests: r.total_requests,
  success_requests: r.success_requests,
  failed_requests: r.failed_requests,
  timeout_requests: r.timeout_requests,
  collection_id: r.collection_id,
  created_at: r.created_at,
  completed_at: r.completed_at,
});

/** What starting a run did: created it, found it created by an earlier attempt, or nothing (over the cap). */
export type RunInsert =
  | { kind: "created" | "existed"; run: RunRow }
  | { kind: "over_cap"; inFlight: number; total: number };

/** A tenant's unfinished jobs (?2 is the tenant): the totals of its runs in progress minus their outcomes. */
const IN_FLIGHT = `SELECT COALESCE(SUM(total_requests - success_requests - failed_requests - timeout_requests), 0)
  FROM runs WHERE tenant = ?2 AND status = 'in_progress'`;

/**
 * Creates the run and one job per request of the collection, in one transaction and two statements
 * whatever the collection's size: jobs come from INSERT … SELECT over the requests. job_id is the
 * run's random 24-character prefix + the request's position in hex, so it is a UUID-shaped string
 * whose order within a run is submission order.
 *
 * The tenant's cap of jobs in flight is checked inside the run's INSERT: D1 runs one statement at
 * a time, so no concurrent start can pass between the check and the write. Over the cap nothing
 * is written (the jobs insert needs the run row).
 *
 * Idempotent on the run id (reserved by an Idempotency-Key for all attempts of one request): when
 * an earlier attempt created the run, the run's INSERT conflicts on the primary key whatever the
 * cap says, so the batch fails and changes nothing (in particular adds no second set of jobs), and
 * that run is the answer.
 */
export async function insertRunWithJobs(
  db: D1Database,
  r: {
    id: string; tenant: string; collection_id: string; created_at: string; deadline_at: string; job_prefix: string;
    /** The tenant's cap of jobs in flight. */
    cap: number;
  },
): Promise<RunInsert> {
  let run: D1Result, jobs: D1Result;
  try {
    [run, jobs] = await db.batch([
      db
        .prepare(
          `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, deadline_at)
           SELECT ?1, ?2, ?3, 'in_progress', n.total, ?4, ?5
           FROM (SELECT count(*) AS total FROM requests WHERE collection_id = ?3) AS n
           WHERE (${IN_FLIGHT}) + n.total <= ?6 OR EXISTS (SELECT 1 FROM runs WHERE id = ?1)`,
        )
        .bind(r.id, r.tenant, r.collection_id, r.created_at, r.deadline_at, r.cap),
      db
        .prepare(
          `INSERT INTO jobs (job_id, run_id, tenant, collection_id, seq, url, custom_id, browser, spec, created_at)
           SELECT ?1 || printf('%012x', seq), ?2, ?3, collection_id, seq, url, custom_id, browser, spec, ?4
           FROM requests WHERE collection_id = ?5 AND EXISTS (SELECT 1 FROM runs WHERE id = ?2)`,
        )
        .bind(r.job_prefix, r.id, r.tenant, r.created_at, r.collection_id),
    ]);
  } catch (e) {
    // Also covers a batch that committed although its answer was lost.
    const existing = await getRun(db, r.tenant, r.collection_id, r.id);
    if (existing) return { kind: "existed", run: existing };
    throw e;
  }
  if (run.meta.changes === 1) {
    const { id, tenant, collection_id, created_at, deadline_at } = r;
    return {
      kind: "created",
      run: {
        id, tenant, collection_id, status: "in_progress", total_requests: jobs.meta.changes,
        success_requests: 0, failed_requests: 0, timeout_requests: 0, created_at, completed_at: null, deadline_at,
      },
    };
  }
  const over = await db
    .prepare(`SELECT (${IN_FLIGHT}) AS in_flight, (SELECT count(*) FROM requests WHERE collection_id = ?1) AS total`)
    .bind(r.collection_id, r.tenant)
    .first<{ in_flight: number; total: number }>();
  return { kind: "over_cap", inFlight: over?.in_flight ?? 0, total: over?.total ?? 0 };
}

/**
 * Undoes insertRunWithJobs for a run that never started, in one transaction, so a failed start
 * leaves either the whole run or nothing.
 */
export const deleteRunWithJobs = (db: D1Database, tenant: string, runId: string) =>
  db.batch([
    db.prepare("DELETE FROM jobs WHERE run_id = ?1 AND tenant = ?2").bind(runId, tenant),
    db.prepare("DELETE FROM runs WHERE id = ?1 AND tenant = ?2").bind(runId, tenant),
  ]);

export const getRun = (db: D1Database, tenant: string, collectionId: string, runId: string) =>
  db
    .prepare(
      `SELECT * FROM runs WHERE id = ?1 AND tenant = ?2 AND collection_id = ?3 AND ${retained("completed_at", "?4")}`,
    )
    .bind(runId, tenant, collectionId, retainedSince())
    .first<RunRow>();

export async function listRuns(db: D1Database, tenant: string, collectionId: string, statuses: RunStatus[] | undefined, limit: number, cursor?: string) {
  const after = decodeCursor("runs", cursor, ["timestamp", "uuid"]);
  const filter = statuses?.length ? `AND status IN (SELECT value FROM json_each(?2))` : "AND ?2 IS NULL";
  const statusParam = statuses?.length ? JSON.stringify(statuses) : null;
  const keyset = after ? "AND (created_at, id) < (?4, ?5)" : "AND ?4 IS NULL AND ?5 IS NULL";
  const since = retainedSince();
  const page = db
    .prepare(
      `SELECT * FROM runs WHERE collection_id = ?1 AND tenant = ?6 ${filter} ${keyset}
         AND ${retained("completed_at", "?7")}
       ORDER BY created_at DESC, id DESC LIMIT ?3`,
    )
    .bind(collectionId, statusParam, limit + 1, after?.[0] ?? null, after?.[1] ?? null, tenant, since);
  const count = db
    .prepare(
      `SELECT count(*) AS n FROM runs WHERE collection_id = ?1 AND tenant = ?3 ${filter} AND ${retained("completed_at", "?4")}`,
    )
    .bind(collectionId, statusParam, tenant, since);
  const [rows, n] = await db.batch([page, count]);
  const items = rows.results as RunRow[];
  const has_more = items.length > limit;
  if (has_more) items.pop();
  const last = items.at(-1);
  return {
    total: (n.results[0] as { n: number }).n,
    items: items.map(toSummary),
    has_more,
    cursor_next: has_more && last ? encodeCursor("runs", [last.created_at, last.id]) : null,
  };
}

/** Written only by the run's Durable Object, with absolute values, so a repeat is harmless. */
export const syncRunCounters = (
  db: D1Database,
  r: { id: string; status: RunStatus; success: number; failed: number; timeout: number; completed_at: string | null },
) =>
  db
    .prepare(
      `UPDATE runs SET status = ?2, success_requests = ?3, failed_requests = ?4, timeout_requests = ?5, completed_at = ?6
       WHERE id = ?1`,
    )
    .bind(r.id, r.status, r.success, r.failed, r.timeout, r.completed_at);

/** Runs still in progress well past their deadline: the cron's backstop for a Durable Object that never armed its alarm. */
export const overdueRuns = (db: D1Database, before: string, limit: number) =>
  db
    .prepare("SELECT * FROM runs WHERE status = 'in_progress' AND deadline_at < ?1 LIMIT ?2")
    .bind(before, limit)
    .all<RunRow>()
    .then((r) => r.results);

/**
 * Runs whose metadata retention ended at `nowMs` (what retained() excludes), oldest first, so the
 * sweep comes back to a run it left half deleted before any other; `skip` passes over runs whose
 * deletion failed earlier in the same invocation.
 */
export const expiredRuns = (db: D1Database, nowMs: number, limit: number, skip: string[] = []) =>
  db
    .prepare(
      `SELECT id FROM runs WHERE completed_at IS NOT NULL AND completed_at < ?1
         AND id NOT IN (SELECT value FROM json_each(?2)) ORDER BY completed_at LIMIT ?3`,
    )
    .bind(retainedSince(nowMs), JSON.stringify(skip), limit)
    .all<{ id: string }>()
    .then((r) => r.results.map((x) => x.id));

/** The last step of a run's retention, once its jobs and its Durable Object's storage are gone. */
export const deleteRuns = (db: D1Database, ids: string[]) =>
  db.prepare("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?1))").bind(JSON.stringify(ids)).run();
