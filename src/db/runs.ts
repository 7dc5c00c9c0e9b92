import type { RunStatus } from "../domain";

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
  requests_version: number;
  synced_at: string;
}

/** A tenant's unfinished jobs: the totals of its runs in progress less what they have counted. */
const IN_FLIGHT = `SELECT COALESCE(SUM(total_requests - success_requests - failed_requests - timeout_requests), 0)
  FROM runs WHERE tenant = ?2 AND status = 'in_progress'`;

export type InsertRunResult =
  | { kind: "created"; total: number; requests_version: number; tenant_runs: number }
  | { kind: "over_cap"; in_flight: number };

/**
 * Creates the run row pinned to the collection's current request list, only if the tenant's jobs
 * in flight stay within `cap` with it. Check and write are one statement, and D1 runs one
 * statement at a time, so concurrent starts cannot pass the cap together.
 */
export async function insertRun(
  db: D1Database,
  r: { id: string; tenant: string; collection_id: string; created_at: string; cap: number },
): Promise<InsertRunResult> {
  const [inserted, after] = await db.batch([
    db
      .prepare(
        `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, requests_version, synced_at)
         SELECT ?1, ?2, c.id, 'in_progress', c.total_requests, ?4, c.requests_version, ?4
         FROM collections c WHERE c.id = ?3 AND c.tenant = ?2 AND c.total_requests + (${IN_FLIGHT}) <= ?5
         RETURNING total_requests, requests_version`,
      )
      .bind(r.id, r.tenant, r.collection_id, r.created_at, r.cap),
    db
      .prepare(`SELECT (${IN_FLIGHT}) AS in_flight, (SELECT count(*) FROM runs WHERE tenant = ?2 AND status = 'in_progress') AS runs`)
      .bind(null, r.tenant),
  ]);
  const row = (inserted.results as { total_requests: number; requests_version: number }[])[0];
  const tenant = (after.results as { in_flight: number; runs: number }[])[0];
  if (!row) return { kind: "over_cap", in_flight: tenant.in_flight };
  return { kind: "created", total: row.total_requests, requests_version: row.requests_version, tenant_runs: tenant.runs };
}

/** Undoes insertRun when the run's object could not be started (POST /run leaves nothing behind). */
export const deleteRun = (db: D1Database, id: string) => db.prepare("DELETE FROM runs WHERE id = ?1").bind(id).run();

export const getRun = (db: D1Database, tenant: string, collectionId: string, runId: string) =>
  db.prepare("SELECT * FROM runs WHERE id = ?1 AND tenant = ?2 AND collection_id = ?3").bind(runId, tenant, collectionId).first<RunRow>();

/** One page of a collection's runs, newest first, keyset on (created_at, id), with the filtered total. */
export async function listRuns(
  db: D1Database,
  q: { tenant: string; collectionId: string; statuses?: RunStatus[]; limit: number; after: [string, string] | null },
) {
  const filter = q.statuses?.length ? `AND status IN (SELECT value FROM json_each(?2))` : "AND ?2 IS NULL";
  const statusParam = q.statuses?.length ? JSON.stringify(q.statuses) : null;
  const keyset = q.after ? "AND (created_at, id) < (?4, ?5)" : "AND ?4 IS NULL AND ?5 IS NULL";
  const page = db
    .prepare(
      `SELECT * FROM runs WHERE collection_id = ?1 AND tenant = ?6 ${filter} ${keyset}
       ORDER BY created_at DESC, id DESC LIMIT ?3`,
    )
    .bind(q.collectionId, statusParam, q.limit + 1, q.after?.[0] ?? null, q.after?.[1] ?? null, q.tenant);
  const count = db
    .prepare(`SELECT count(*) AS n FROM runs WHERE collection_id = ?1 AND tenant = ?3 ${filter}`)
    .bind(q.collectionId, statusParam, q.tenant);
  const [rows, n] = await db.batch([page, count]);
  const items = rows.results as RunRow[];
  const has_more = items.length > q.limit;
  if (has_more) items.pop();
  return { total: (n.results[0] as { n: number }).n, rows: items, has_more };
}

/**
 * Written only by the run's object, with absolute values, so a repeat is harmless. Returns how many
 * runs the tenant has in progress (the run's share of the tenant's window). When the run has
 * ended, its pinned request list goes too if the collection has moved on and no other run in
 * progress pinned it.
 */
export async function syncRunRow(
  db: D1Database,
  s: {
    run_id: string; tenant: string; collection_id: string; requests_version: number; status: RunStatus;
    success: number; failed: number; timeout: number; completed_ms: number | null;
  },
  syncedAt: string,
): Promise<number> {
  const statements = [
    db
      .prepare(
        `UPDATE runs SET status = ?2, success_requests = ?3, failed_requests = ?4, timeout_requests = ?5,
           completed_at = ?6, synced_at = ?7 WHERE id = ?1`,
      )
      .bind(s.run_id, s.status, s.success, s.failed, s.timeout, s.completed_ms === null ? null : new Date(s.completed_ms).toISOString(), syncedAt),
    db.prepare("SELECT count(*) AS n FROM runs WHERE tenant = ?1 AND status = 'in_progress'").bind(s.tenant),
  ];
  if (s.status !== "in_progress") {
    statements.push(
      db
        .prepare(
          `DELETE FROM requests WHERE collection_id = ?1 AND version = ?2
             AND version < (SELECT requests_version FROM collections WHERE id = ?1)
             AND NOT EXISTS (SELECT 1 FROM runs WHERE collection_id = ?1 AND requests_version = ?2 AND status = 'in_progress')`,
        )
        .bind(s.collection_id, s.requests_version),
    );
  }
  const [, count] = await db.batch(statements);
  return Math.max(1, (count.results[0] as { n: number }).n);
}

/** Runs in progress whose object has not written their row since `before`: the cron's backstop. */
export const quietRuns = (db: D1Database, before: string, limit: number) =>
  db
    .prepare("SELECT * FROM runs WHERE status = 'in_progress' AND synced_at < ?1 ORDER BY synced_at LIMIT ?2")
    .bind(before, limit)
    .all<RunRow>()
    .then((r) => r.results);

/** Runs whose metadata retention ended. */
export const expiredRuns = (db: D1Database, before: string, limit: number) =>
  db
    .prepare("SELECT id FROM runs WHERE completed_at IS NOT NULL AND completed_at < ?1 ORDER BY completed_at LIMIT ?2")
    .bind(before, limit)
    .all<{ id: string }>()
    .then((r) => r.results.map((x) => x.id));
