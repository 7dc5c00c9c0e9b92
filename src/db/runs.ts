import { iso, now } from "../clock";
import { LIMITS } from "../config";
import type { Politeness } from "../do/host-policy";
import type { RunStatus } from "../domain";

/**
 * Metadata retention (API.md, Retention): a run exists until LIMITS.metadataRetentionMs after it
 * completed, whether or not the sweep has deleted it yet. Every D1 read of a run carries this
 * predicate on the run's completed_at (`col`), with `param` bound to retainedSince(); the sweep
 * deletes exactly the runs it excludes. The run's object applies the same rule (metadataExpired).
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
  requests_version: number;
  synced_at: string;
  /** The run's pinned webhook ({ url, events } JSON), or null. */
  webhook: string | null;
  /** The politeness the run started with (its own, else its collection's). */
  per_host_concurrency: number;
  per_host_delay_ms: number;
}

/** A tenant's unfinished jobs (`tenant` names its parameter): its runs in progress' totals less what they counted. */
const inFlight = (tenant: string) => `SELECT COALESCE(SUM(total_requests - success_requests - failed_requests -
  timeout_requests), 0) FROM runs WHERE tenant = ${tenant} AND status = 'in_progress'`;
const IN_FLIGHT = inFlight("?2");

/** A tenant's jobs in flight as the cap counts them (the rows lag their runs' objects by at most a sync). */
export const inFlightJobs = (db: D1Database, tenant: string) =>
  db
    .prepare(`SELECT (${inFlight("?1")}) AS n`)
    .bind(tenant)
    .first<{ n: number }>()
    .then((r) => r?.n ?? 0);

/** What starting a run did: created it, found it created by an earlier attempt, or nothing (over the cap). */
export type RunInsert =
  | { kind: "created" | "existed"; run: RunRow; tenant_runs: number }
  | { kind: "over_cap"; in_flight: number; total: number };

/**
 * Creates the run row pinned to the collection's current request list, only if the tenant's jobs
 * in flight stay within `cap` with it. Check and write are one statement, and D1 runs one
 * statement at a time, so concurrent starts cannot pass the cap together.
 *
 * Idempotent on the run id (reserved by an Idempotency-Key for every attempt of one request): when
 * an earlier attempt created the run, the insert conflicts on the primary key whatever the cap
 * says, and that run is the answer.
 */
export async function insertRun(
  db: D1Database,
  r: {
    id: string;
    tenant: string;
    collection_id: string;
    created_at: string;
    cap: number;
    webhook?: string | null;
    /** This run's own settings; what it leaves out comes from the collection. */
    politeness?: Partial<Politeness>;
  },
): Promise<RunInsert> {
  const tenantRuns = db
    .prepare(`SELECT (${IN_FLIGHT}) AS in_flight,
        (SELECT count(*) FROM runs WHERE tenant = ?2 AND status = 'in_progress') AS runs,
        (SELECT total_requests FROM collections WHERE id = ?1) AS total`)
    .bind(r.collection_id, r.tenant);
  let inserted: D1Result;
  let after: D1Result;
  try {
    [inserted, after] = await db.batch([
      db
        .prepare(
          `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, requests_version, synced_at,
             webhook, per_host_concurrency, per_host_delay_ms)
           SELECT ?1, ?2, c.id, 'in_progress', c.total_requests, ?4, c.requests_version, ?4, COALESCE(?6, c.webhook),
             COALESCE(?7, c.per_host_concurrency), COALESCE(?8, c.per_host_delay_ms)
           FROM collections c
           WHERE c.id = ?3 AND c.tenant = ?2 AND c.deleted_at IS NULL
             AND (c.total_requests + (${IN_FLIGHT}) <= ?5 OR EXISTS (SELECT 1 FROM runs WHERE id = ?1))
           RETURNING *`,
        )
        .bind(
          r.id,
          r.tenant,
          r.collection_id,
          r.created_at,
          r.cap,
          r.webhook ?? null,
          r.politeness?.per_host_concurrency ?? null,
          r.politeness?.per_host_delay_ms ?? null,
        ),
      tenantRuns,
    ]);
  } catch (e) {
    // The id is taken: an earlier attempt created the run (or committed although its answer was lost).
    const existing = await getRun(db, r.tenant, r.collection_id, r.id);
    if (existing) return { kind: "existed", run: existing, tenant_runs: 1 };
    throw e;
  }
  const row = (inserted.results as RunRow[])[0];
  const t = (after.results as { in_flight: number; runs: number; total: number }[])[0];
  if (!row) return { kind: "over_cap", in_flight: t.in_flight, total: t.total };
  return { kind: "created", run: row, tenant_runs: t.runs };
}

/** Undoes insertRun for a run whose object could not be started (POST /run leaves nothing behind). */
export const deleteRun = (db: D1Database, tenant: string, id: string) =>
  db.prepare("DELETE FROM runs WHERE id = ?1 AND tenant = ?2").bind(id, tenant).run();

export const getRun = (db: D1Database, tenant: string, collectionId: string, runId: string) =>
  db
    .prepare(
      `SELECT * FROM runs WHERE id = ?1 AND tenant = ?2 AND collection_id = ?3 AND ${retained("completed_at", "?4")}`,
    )
    .bind(runId, tenant, collectionId, retainedSince())
    .first<RunRow>();

/** One page of a collection's runs, newest first, keyset on (created_at, id), with the filtered total. */
export async function listRuns(
  db: D1Database,
  q: { tenant: string; collectionId: string; statuses?: RunStatus[]; limit: number; after: (string | number)[] | null },
) {
  const filter = q.statuses?.length ? `AND status IN (SELECT value FROM json_each(?2))` : "AND ?2 IS NULL";
  const statusParam = q.statuses?.length ? JSON.stringify(q.statuses) : null;
  const keyset = q.after ? "AND (created_at, id) < (?4, ?5)" : "AND ?4 IS NULL AND ?5 IS NULL";
  const since = retainedSince();
  const page = db
    .prepare(
      `SELECT * FROM runs WHERE collection_id = ?1 AND tenant = ?6 ${filter} ${keyset}
         AND ${retained("completed_at", "?7")}
       ORDER BY created_at DESC, id DESC LIMIT ?3`,
    )
    .bind(q.collectionId, statusParam, q.limit + 1, q.after?.[0] ?? null, q.after?.[1] ?? null, q.tenant, since);
  const count = db
    .prepare(
      `SELECT count(*) AS n FROM runs
       WHERE collection_id = ?1 AND tenant = ?3 ${filter} AND ${retained("completed_at", "?4")}`,
    )
    .bind(q.collectionId, statusParam, q.tenant, since);
  const [rows, n] = await db.batch([page, count]);
  const items = rows.results as RunRow[];
  const has_more = items.length > q.limit;
  if (has_more) items.pop();
  return { total: (n.results[0] as { n: number }).n, rows: items, has_more };
}

/** A run's counters and usage as its object holds them: absolute values, only ever growing. */
export interface RunCounters {
  run_id: string;
  tenant: string;
  collection_id: string;
  requests_version: number;
  status: RunStatus;
  success: number;
  failed: number;
  timeout: number;
  completed_ms: number | null;
  created_jobs: number;
  total: number;
  fetch_jobs: number;
  browser_jobs: number;
  browser_ms: number;
  bytes_stored: number;
}

/**
 * Adds to the tenant's usage of the sync's UTC day what the run counted since its row was last
 * written: the new absolute values less the row's. It runs in the same batch (one transaction)
 * before the row's update, so a sync repeated with the same values (its answer lost, the alarm's
 * retry) adds nothing, and one that failed added nothing either. Nothing when nothing moved.
 */
const addUsage = (db: D1Database, s: RunCounters, day: string) =>
  db
    .prepare(
      `INSERT INTO usage_days
         (tenant, day, success, failed, timeout, fetch_jobs, browser_jobs, browser_ms, bytes_stored)
       SELECT tenant, ?2, MAX(0, ?3 - success_requests), MAX(0, ?4 - failed_requests), MAX(0, ?5 - timeout_requests),
              MAX(0, ?6 - fetch_jobs), MAX(0, ?7 - browser_jobs), MAX(0, ?8 - browser_ms), MAX(0, ?9 - bytes_stored)
       FROM runs
       WHERE id = ?1 AND (?3 > success_requests OR ?4 > failed_requests OR ?5 > timeout_requests
                          OR ?6 > fetch_jobs OR ?7 > browser_jobs OR ?8 > browser_ms OR ?9 > bytes_stored)
       ON CONFLICT (tenant, day) DO UPDATE SET success = success + excluded.success,
         failed = failed + excluded.failed, timeout = timeout + excluded.timeout,
         fetch_jobs = fetch_jobs + excluded.fetch_jobs, browser_jobs = browser_jobs + excluded.browser_jobs,
         browser_ms = browser_ms + excluded.browser_ms, bytes_stored = bytes_stored + excluded.bytes_stored`,
    )
    .bind(s.run_id, day, s.success, s.failed, s.timeout, s.fetch_jobs, s.browser_jobs, s.browser_ms, s.bytes_stored);

/**
 * Written only by the run's object, with absolute values, so a repeat is harmless; the counters
 * never move back (MAX), so a late repeat of an older sync cannot make the next one count twice
 * into usage. Returns how many runs the tenant has in progress (the run's share of the tenant's
 * window). When the run has ended, its pinned request list goes too if the collection has moved
 * on and no other run in progress pinned it.
 */
export async function syncRunRow(db: D1Database, s: RunCounters, syncedAt: string): Promise<number> {
  const completedAt = s.completed_ms === null ? null : iso(s.completed_ms);
  const statements = [
    // Per-day attribution is by the day of the sync (UTC), which is when the service learned of it.
    addUsage(db, s, syncedAt.slice(0, 10)),
    db
      .prepare(
        `UPDATE runs SET status = ?2, success_requests = MAX(success_requests, ?3),
           failed_requests = MAX(failed_requests, ?4), timeout_requests = MAX(timeout_requests, ?5),
           fetch_jobs = MAX(fetch_jobs, ?8), browser_jobs = MAX(browser_jobs, ?9), browser_ms = MAX(browser_ms, ?10),
           bytes_stored = MAX(bytes_stored, ?11), completed_at = ?6, synced_at = ?7 WHERE id = ?1`,
      )
      .bind(
        s.run_id,
        s.status,
        s.success,
        s.failed,
        s.timeout,
        completedAt,
        syncedAt,
        s.fetch_jobs,
        s.browser_jobs,
        s.browser_ms,
        s.bytes_stored,
      ),
    db.prepare("SELECT count(*) AS n FROM runs WHERE tenant = ?1 AND status = 'in_progress'").bind(s.tenant),
  ];
  // A cancelled run may still be copying its pinned list (its remaining jobs are created ended).
  if (s.status !== "in_progress" && s.created_jobs >= s.total) {
    statements.push(
      db
        .prepare(
          `DELETE FROM requests WHERE collection_id = ?1 AND version = ?2
             AND version < (SELECT requests_version FROM collections WHERE id = ?1)
             AND NOT EXISTS (SELECT 1 FROM runs
                             WHERE collection_id = ?1 AND requests_version = ?2 AND status = 'in_progress')`,
        )
        .bind(s.collection_id, s.requests_version),
    );
  }
  const [, , count] = await db.batch(statements);
  return Math.max(1, (count.results[0] as { n: number }).n);
}

/**
 * Runs in progress whose object has not written their row since `before`: the cron's backstop. Not
 * those of a deleted collection: the deletion cancels them, and resuming one whose object it already
 * emptied would start it again from its row.
 */
export const quietRuns = (db: D1Database, before: string, limit: number) =>
  db
    .prepare(
      `SELECT * FROM runs WHERE status = 'in_progress' AND synced_at < ?1
         AND collection_id NOT IN (SELECT id FROM collections WHERE deleted_at IS NOT NULL)
       ORDER BY synced_at LIMIT ?2`,
    )
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

/** The last step of a run's retention, once its Durable Object's storage is gone. */
export const deleteRuns = (db: D1Database, ids: string[]) =>
  db.prepare("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?1))").bind(JSON.stringify(ids)).run();

/** What the deletion of a collection needs of each of its runs. */
export interface DeletedRunRow {
  id: string;
  tenant: string;
  status: RunStatus;
  created_at: string;
  completed_at: string | null;
}

/** A page of a collection's runs in creation order after (created_at, id), for its deletion. */
export const collectionRunsPage = (
  db: D1Database,
  collectionId: string,
  after: [string, string] | null,
  limit: number,
) =>
  db
    .prepare(
      `SELECT id, tenant, status, created_at, completed_at FROM runs
       WHERE collection_id = ?1 AND (?2 IS NULL OR (created_at, id) > (?2, ?3))
       ORDER BY created_at, id LIMIT ?4`,
    )
    .bind(collectionId, after?.[0] ?? null, after?.[1] ?? null, limit)
    .all<DeletedRunRow>()
    .then((r) => r.results);

/** A collection's runs in progress (at most `limit`): what its deletion cancels first. */
export const runsInProgress = (db: D1Database, collectionId: string, limit: number) =>
  db
    .prepare(
      `SELECT id, tenant, status, created_at, completed_at FROM runs
       WHERE collection_id = ?1 AND status = 'in_progress' LIMIT ?2`,
    )
    .bind(collectionId, limit)
    .all<DeletedRunRow>()
    .then((r) => r.results);
