import type { RunStatus, RunSummary } from "../schemas";
import { decodeCursor, encodeCursor } from "./cursor";

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

/**
 * Creates the run and one job per request of the collection, in one transaction and two statements
 * whatever the collection's size: jobs come from INSERT … SELECT over the requests. job_id is the
 * run's random 24-character prefix + the request's position in hex, so it is a UUID-shaped string
 * whose order within a run is submission order.
 */
export async function insertRunWithJobs(
  db: D1Database,
  r: { id: string; tenant: string; collection_id: string; created_at: string; deadline_at: string; job_prefix: string },
): Promise<number> {
  const [, jobs] = await db.batch([
    db
      .prepare(
        `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, deadline_at)
         SELECT ?1, ?2, ?3, 'in_progress', (SELECT count(*) FROM requests WHERE collection_id = ?3), ?4, ?5`,
      )
      .bind(r.id, r.tenant, r.collection_id, r.created_at, r.deadline_at),
    db
      .prepare(
        `INSERT INTO jobs (job_id, run_id, tenant, collection_id, seq, url, custom_id, browser, spec, created_at)
         SELECT ?1 || printf('%012x', seq), ?2, ?3, collection_id, seq, url, custom_id, browser, spec, ?4
         FROM requests WHERE collection_id = ?5`,
      )
      .bind(r.job_prefix, r.id, r.tenant, r.created_at, r.collection_id),
  ]);
  return jobs.meta.changes;
}

export const getRun = (db: D1Database, tenant: string, collectionId: string, runId: string) =>
  db.prepare("SELECT * FROM runs WHERE id = ?1 AND tenant = ?2 AND collection_id = ?3").bind(runId, tenant, collectionId).first<RunRow>();

export async function listRuns(db: D1Database, tenant: string, collectionId: string, statuses: RunStatus[] | undefined, limit: number, cursor?: string) {
  const after = decodeCursor("runs", cursor, ["timestamp", "uuid"]);
  const filter = statuses?.length ? `AND status IN (SELECT value FROM json_each(?2))` : "AND ?2 IS NULL";
  const statusParam = statuses?.length ? JSON.stringify(statuses) : null;
  const keyset = after ? "AND (created_at, id) < (?4, ?5)" : "AND ?4 IS NULL AND ?5 IS NULL";
  const page = db
    .prepare(
      `SELECT * FROM runs WHERE collection_id = ?1 AND tenant = ?6 ${filter} ${keyset}
       ORDER BY created_at DESC, id DESC LIMIT ?3`,
    )
    .bind(collectionId, statusParam, limit + 1, after?.[0] ?? null, after?.[1] ?? null, tenant);
  const count = db
    .prepare(`SELECT count(*) AS n FROM runs WHERE collection_id = ?1 AND tenant = ?3 ${filter}`)
    .bind(collectionId, statusParam, tenant);
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

/** Jobs queued or running for a tenant, counted as the totals of its runs in progress (an upper bound). */
export async function jobsInFlight(db: D1Database, tenant: string): Promise<number> {
  const row = await db
    .prepare("SELECT COALESCE(SUM(total_requests - success_requests - failed_requests - timeout_requests), 0) AS n FROM runs WHERE tenant = ?1 AND status = 'in_progress'")
    .bind(tenant)
    .first<{ n: number }>();
  return row?.n ?? 0;
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

/** Runs whose metadata retention ended. */
export const expiredRuns = (db: D1Database, before: string, limit: number) =>
  db
    .prepare("SELECT id FROM runs WHERE completed_at IS NOT NULL AND completed_at < ?1 LIMIT ?2")
    .bind(before, limit)
    .all<{ id: string }>()
    .then((r) => r.results.map((x) => x.id));
