/**
 * A tenant's usage per UTC day. Rows are written only by the run objects' syncs (syncRunRow in
 * db/runs, which adds what a run counted since its last sync); this module reads and expires them.
 */
import { LIMITS } from "../config";

/** The oldest day (YYYY-MM-DD, UTC) still kept at `nowMs`; the sweep deletes the days before it. */
export const firstKeptDay = (nowMs: number) =>
  new Date(nowMs - (LIMITS.usageDays - 1) * 24 * 3600_000).toISOString().slice(0, 10);

export interface UsageDayRow {
  day: string;
  success: number;
  failed: number;
  timeout: number;
  fetch_jobs: number;
  browser_jobs: number;
  browser_ms: number;
  bytes_stored: number;
}

/** The tenant's days in [from, to] (YYYY-MM-DD) that have usage, oldest first. */
export const usageDays = (db: D1Database, tenant: string, from: string, to: string) =>
  db
    .prepare(
      `SELECT day, success, failed, timeout, fetch_jobs, browser_jobs, browser_ms, bytes_stored FROM usage_days
       WHERE tenant = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day`,
    )
    .bind(tenant, from, to)
    .all<UsageDayRow>()
    .then((r) => r.results);

/**
 * Deletes up to `limit` rows of days before `firstKept` (every tenant's); returns how many. Bounded,
 * so one invocation's statement stays small whatever the number of tenants.
 */
export async function deleteUsageBefore(db: D1Database, firstKept: string, limit: number): Promise<number> {
  const r = await db
    .prepare(
      `DELETE FROM usage_days WHERE (tenant, day) IN
         (SELECT tenant, day FROM usage_days WHERE day < ?1 ORDER BY day LIMIT ?2)`,
    )
    .bind(firstKept, limit)
    .run();
  return r.meta.changes;
}
