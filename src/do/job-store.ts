/**
 * The run's job store: SQL over the RunCoordinator's own SQLite, one operation per function, rows
 * in and rows out. Nothing here calls out of the object, so the coordinator can run any of these
 * inside one synchronous transaction.
 *
 * Every listing is an index range scan: submission order is the primary key (seq), a status filter
 * is one range of `jobs_by_status` per status, completion order is one range of
 * `jobs_by_completion` per terminal status, merged by the caller. Released jobs (leases, the
 * in-flight count) are the `in_progress` range of `jobs_by_status`, at most a window's worth, so
 * they need no index of their own (each index costs a row write per state change).
 */
import type { JobStatus, Outcome, RunStatus, TerminalStatus } from "../domain";
import { DEFAULT_POLITENESS, hostOf, hostRecord } from "./host-policy";
import { applyMigrations } from "./sql-migrations";

/** Forward-only schema migrations; the version table says which have run. */
const MIGRATIONS: string[] = [
  `CREATE TABLE run (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     run_id TEXT NOT NULL, tenant TEXT NOT NULL, collection_id TEXT NOT NULL, job_prefix TEXT NOT NULL,
     requests_version INTEGER NOT NULL, total INTEGER NOT NULL, browser_total INTEGER NOT NULL,
     created_jobs INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, status TEXT NOT NULL,
     success INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, timeout INTEGER NOT NULL DEFAULT 0,
     completed_ms INTEGER, last_ts INTEGER NOT NULL DEFAULT 0, d1_dirty INTEGER NOT NULL DEFAULT 1,
     tenant_runs INTEGER NOT NULL DEFAULT 1, rate REAL, service_ms REAL, rate_mark_ms INTEGER NOT NULL,
     rate_mark_count INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY,
     url TEXT NOT NULL, custom_id TEXT, browser INTEGER NOT NULL, spec TEXT NOT NULL, timeout_ms INTEGER NOT NULL,
     status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, releases INTEGER NOT NULL DEFAULT 0,
     released_ms INTEGER, lease_ms INTEGER, completed_ms INTEGER,
     status_code INTEGER, final_url TEXT, blocked_reason TEXT, error TEXT,
     queue_wait_ms INTEGER, fetch_ms INTEGER, render_ms INTEGER, total_ms INTEGER,
     body_key TEXT, body_offset INTEGER, body_length INTEGER, screenshot_key TEXT, result_meta TEXT
   );
   CREATE INDEX jobs_by_status ON jobs (status, seq);
   CREATE INDEX jobs_by_completion ON jobs (status, completed_ms, seq) WHERE completed_ms IS NOT NULL;`,
  // The run's extract field names (the export's CSV columns), in order of first appearance:
  // collected as jobs are created, so the export never reads every job's spec to find them.
  `CREATE TABLE extract_fields (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, pos INTEGER NOT NULL);`,
  // When the D1 row was last written and with how many ended jobs: kept in storage, because an
  // object evicted between two batches would otherwise sync at once every time it wakes.
  `ALTER TABLE run ADD COLUMN synced_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE run ADD COLUMN synced_count INTEGER NOT NULL DEFAULT 0;`,
  // Where a job's Markdown lies in its pack (body_key), when its request asked for markdown: made
  // once by the consumer, so an export reads it instead of converting every page again.
  `ALTER TABLE jobs ADD COLUMN markdown_offset INTEGER;
   ALTER TABLE jobs ADD COLUMN markdown_length INTEGER;`,
  // The run's usage (GET /v1/usage), summed from the outcomes that ended its jobs and copied to D1
  // with the counters: absolute values, so the D1 side can take the difference exactly once.
  `ALTER TABLE run ADD COLUMN fetch_jobs INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE run ADD COLUMN browser_jobs INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE run ADD COLUMN browser_ms INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE run ADD COLUMN bytes_stored INTEGER NOT NULL DEFAULT 0;`,
  // Webhooks: the run's pinned webhook ({ url, events } JSON), the completion instant up to which
  // finished jobs have their job.completed deliveries, and the run's delivery log. A delivery of
  // job.completed names its jobs as one recorded batch's completion instant and a seq range (at
  // most 100 jobs), so the payload is read from the job rows at delivery time. The partial unique
  // index makes a second run.completed row impossible, whatever reports the run's end twice.
  `ALTER TABLE run ADD COLUMN webhook TEXT;
   ALTER TABLE run ADD COLUMN events_ms INTEGER NOT NULL DEFAULT -1;
   CREATE TABLE deliveries (
     seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, url TEXT NOT NULL,
     status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
     last_status_code INTEGER, last_error TEXT, created_ms INTEGER NOT NULL, first_attempt_ms INTEGER,
     last_attempt_ms INTEGER, next_attempt_ms INTEGER, delivered_ms INTEGER, queued INTEGER NOT NULL DEFAULT 0,
     jobs_ms INTEGER, seq_from INTEGER, seq_to INTEGER, job_count INTEGER
   );
   CREATE UNIQUE INDEX one_run_completed ON deliveries (event) WHERE event = 'run.completed';
   CREATE INDEX deliveries_unqueued ON deliveries (seq) WHERE queued = 0;`,
  // Per-host politeness: each job's host (computed when it is created), and the run's settings.
  // Pending jobs by host are a partial index, so a job leaves it when released and its outcome
  // costs no index write. Jobs created before this have no host and are released without the gate.
  `ALTER TABLE jobs ADD COLUMN host TEXT;
   CREATE INDEX jobs_pending_by_host ON jobs (host, seq) WHERE status = 'pending';
   ALTER TABLE run ADD COLUMN per_host_concurrency INTEGER NOT NULL DEFAULT 6;
   ALTER TABLE run ADD COLUMN per_host_delay_ms INTEGER NOT NULL DEFAULT 0;`,
];

export function migrate(sql: SqlStorage): void {
  applyMigrations(sql, MIGRATIONS);
}

/** Brings an object created by an older version up to the current schema; creates nothing in one never started. */
export function upgrade(sql: SqlStorage): void {
  const started = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray();
  if (started.length > 0) migrate(sql);
}

export interface RunState {
  run_id: string;
  tenant: string;
  collection_id: string;
  job_prefix: string;
  requests_version: number;
  total: number;
  browser_total: number;
  created_jobs: number;
  created_ms: number;
  status: RunStatus;
  success: number;
  failed: number;
  timeout: number;
  completed_ms: number | null;
  last_ts: number;
  d1_dirty: number;
  tenant_runs: number;
  rate: number | null;
  /** Moving average of a job's own time in a worker (fetch + render), in ms. */
  service_ms: number | null;
  /** When the D1 row was last written (Date.now()), and the ended jobs it then counted. */
  synced_ms: number;
  synced_count: number;
  /** Usage: jobs ended by a worker's outcome, by mode; browser page time; bytes of pages and screenshots kept. */
  fetch_jobs: number;
  browser_jobs: number;
  browser_ms: number;
  bytes_stored: number;
  rate_mark_ms: number;
  rate_mark_count: number;
  /** The run's webhook as JSON ({ url, events }), or null. */
  webhook: string | null;
  /** Jobs completed up to this instant have their job.completed deliveries. */
  events_ms: number;
  /** The politeness that applies to the run (its own, or its collection's when it started). */
  per_host_concurrency: number;
  per_host_delay_ms: number;
}

/** Null before the run was started here (a GET of an unknown id creates no tables). */
export function readRun(sql: SqlStorage): RunState | null {
  try {
    return (sql.exec("SELECT * FROM run WHERE id = 1").toArray()[0] as unknown as RunState | undefined) ?? null;
  } catch (e) {
    if (String(e).includes("no such table")) return null;
    throw e;
  }
}

export type NewRun = Pick<
  RunState,
  "run_id" | "tenant" | "collection_id" | "job_prefix" | "requests_version" | "total" | "browser_total" | "created_ms"
> & { webhook?: string | null } & /** Left out: the defaults (DEFAULT_POLITENESS). */ Partial<
    Pick<RunState, "per_host_concurrency" | "per_host_delay_ms">
  >;

/**
 * `syncedMs`: when the D1 row is known to hold this new run's state (in progress, nothing counted),
 * as it does when the row was written just before the object starts; the row is then not due for
 * a sync until something changes.
 */
export function insertRun(sql: SqlStorage, r: NewRun, tenantRuns: number, syncedMs?: number): void {
  sql.exec(
    `INSERT INTO run (id, run_id, tenant, collection_id, job_prefix, requests_version, total, browser_total, created_ms,
       status, tenant_runs, rate_mark_ms, webhook, d1_dirty, synced_ms, per_host_concurrency, per_host_delay_ms)
     VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?, ?)`,
    r.run_id,
    r.tenant,
    r.collection_id,
    r.job_prefix,
    r.requests_version,
    r.total,
    r.browser_total,
    r.created_ms,
    tenantRuns,
    r.created_ms,
    r.webhook ?? null,
    syncedMs === undefined ? 1 : 0,
    syncedMs ?? 0,
    r.per_host_concurrency ?? DEFAULT_POLITENESS.per_host_concurrency,
    r.per_host_delay_ms ?? DEFAULT_POLITENESS.per_host_delay_ms,
  );
}

/** A request of the pinned request list, as D1 returns a page of it. */
export interface RequestRow {
  seq: number;
  url: string;
  custom_id: string | null;
  browser: number;
  spec: string;
}

/**
 * Creates one page of job rows. Repeats are ignored, so a page created twice (a retried alarm, a
 * concurrent resume) creates each job once. Jobs of a cancelled run are created already failed.
 */
export function insertJobs(sql: SqlStorage, rows: RequestRow[], ended: { error: string; at: number } | null): number {
  let inserted = 0;
  for (const r of rows) {
    const spec = JSON.parse(r.spec) as { timeout: number; extract?: Record<string, unknown> };
    const timeout = spec.timeout;
    Object.keys(spec.extract ?? {}).forEach((name, pos) =>
      sql.exec("INSERT OR IGNORE INTO extract_fields (name, seq, pos) VALUES (?, ?, ?)", name, r.seq, pos),
    );
    const written = sql.exec(
      `INSERT OR IGNORE INTO jobs (seq, url, custom_id, browser, spec, timeout_ms, status, error, completed_ms, host)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      r.seq,
      r.url,
      r.custom_id,
      r.browser,
      r.spec,
      timeout,
      ended ? "failed" : "pending",
      ended?.error ?? null,
      ended?.at ?? null,
      hostOf(r.url),
    ).rowsWritten;
    if (written > 0) inserted++;
  }
  return inserted;
}

export const setCreated = (sql: SqlStorage, createdJobs: number) =>
  sql.exec("UPDATE run SET created_jobs = MAX(created_jobs, ?) WHERE id = 1", createdJobs);

export const countInFlight = (sql: SqlStorage): number =>
  sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE status = 'in_progress'").one().n;

/** What a job message is built from. */
export type ReleaseRow = {
  seq: number;
  url: string;
  browser: number;
  spec: string;
  attempts: number;
};

/** Released jobs per host (a window's worth at most: the in_progress range of jobs_by_status). */
export function inFlightByHost(sql: SqlStorage): Record<string, number> {
  const rows = sql.exec<{ host: string; n: number }>(
    "SELECT host, count(*) AS n FROM jobs WHERE status = 'in_progress' AND host IS NOT NULL GROUP BY host",
  );
  return hostRecord(rows.toArray().map((r) => [r.host, r.n]));
}

/**
 * Up to `limit` distinct hosts of pending jobs after `afterHost`, in order: one index seek per host
 * (a skip scan of jobs_pending_by_host), however many jobs each host has.
 */
export const pendingHosts = (sql: SqlStorage, afterHost: string, limit: number): string[] =>
  sql
    .exec<{ host: string }>(
      `WITH RECURSIVE h(host) AS (
         SELECT (SELECT min(host) FROM jobs INDEXED BY jobs_pending_by_host WHERE status = 'pending' AND host > ?1)
         UNION ALL
         SELECT (SELECT min(host) FROM jobs INDEXED BY jobs_pending_by_host WHERE status = 'pending' AND host > h.host)
         FROM h WHERE h.host IS NOT NULL
       ) SELECT host FROM h WHERE host IS NOT NULL LIMIT ?2`,
      afterHost,
      limit,
    )
    .toArray()
    .map((r) => r.host);

/** Pending jobs of one host, counted up to `cap` (null: jobs created before hosts were kept). */
export const pendingOnHost = (sql: SqlStorage, host: string | null, cap: number): number =>
  sql
    .exec<{ n: number }>(
      `SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE status = 'pending' AND host IS ? LIMIT ?)`,
      host,
      cap,
    )
    .one().n;

/** The next pending jobs of one host (null: those without one) in submission order, marked released. */
export function releasePending(
  sql: SqlStorage,
  host: string | null,
  limit: number,
  nowMs: number,
  lease: (timeoutMs: number) => number,
) {
  if (limit <= 0) return [];
  const rows = sql
    .exec<ReleaseRow & { timeout_ms: number }>(
      `SELECT seq, url, browser, spec, attempts, timeout_ms FROM jobs WHERE status = 'pending' AND host IS ?
       ORDER BY seq LIMIT ?`,
      host,
      limit,
    )
    .toArray();
  for (const r of rows) markReleased(sql, r.seq, nowMs, nowMs + lease(r.timeout_ms));
  // The release is the next attempt.
  return rows.map((r) => ({ ...r, attempts: r.attempts + 1 }));
}

function markReleased(sql: SqlStorage, seq: number, nowMs: number, leaseUntil: number) {
  sql.exec(
    `UPDATE jobs SET status = 'in_progress', attempts = attempts + 1, releases = releases + 1,
       released_ms = COALESCE(released_ms, ?), lease_ms = ? WHERE seq = ?`,
    nowMs,
    leaseUntil,
    seq,
  );
}

/** Released jobs whose lease ran out, oldest first. */
export const expiredLeases = (sql: SqlStorage, nowMs: number, limit: number) =>
  sql
    .exec<ReleaseRow & { releases: number; timeout_ms: number }>(
      `SELECT seq, url, browser, spec, attempts, releases, timeout_ms FROM jobs
       WHERE status = 'in_progress' AND lease_ms <= ? ORDER BY lease_ms LIMIT ?`,
      nowMs,
      limit,
    )
    .toArray();

/** Undoes a release whose message was never sent: the job is pending again, its attempt not spent. */
export function unrelease(sql: SqlStorage, seqs: number[]) {
  for (const seq of seqs) {
    sql.exec(
      `UPDATE jobs SET status = 'pending', attempts = attempts - 1, releases = releases - 1, lease_ms = NULL,
         released_ms = CASE WHEN releases = 1 THEN NULL ELSE released_ms END
       WHERE seq = ? AND status = 'in_progress'`,
      seq,
    );
  }
}

/**
 * A released job whose host answered 429/503 with Retry-After goes back to pending, its attempt
 * spent (`attempt`, as the consumer counted it), to be released again once the host's backoff is
 * over; its release is given back, so hand-backs do not use up the lease budget (attempts bound them).
 * Returns its host, or undefined when the job is not in flight (ended, or returned already).
 */
export function returnJob(sql: SqlStorage, seq: number, attempt: number): string | null | undefined {
  const row = sql
    .exec<{ host: string | null }>(
      `UPDATE jobs SET status = 'pending', lease_ms = NULL, attempts = MAX(attempts, ?),
         releases = MAX(0, releases - 1)
       WHERE seq = ? AND status = 'in_progress' RETURNING host`,
      attempt,
      seq,
    )
    .toArray()[0];
  return row?.host;
}

export const hostOfJob = (sql: SqlStorage, seq: number): string | null =>
  sql.exec<{ host: string | null }>("SELECT host FROM jobs WHERE seq = ?", seq).toArray()[0]?.host ?? null;

export const reRelease = (sql: SqlStorage, seq: number, nowMs: number, leaseUntil: number) =>
  markReleased(sql, seq, nowMs, leaseUntil);

export const nextLease = (sql: SqlStorage): number | null =>
  sql.exec<{ t: number | null }>("SELECT min(lease_ms) AS t FROM jobs WHERE status = 'in_progress'").one().t;

/**
 * Ends one job with its outcome unless it already ended: the first outcome wins for good, so a
 * duplicate delivery, a late success after a dead letter, or a re-released job's second report
 * changes nothing. Returns the job's mode and its time held by a worker (from when a consumer took
 * its batch, its release plus its batch wait, else its queue wait, to now) when this call ended it,
 * null when it had ended already.
 */
export function finishJob(
  sql: SqlStorage,
  seq: number,
  o: Outcome,
  completedMs: number,
): { browser: number; held_ms: number | null } | null {
  const ended = sql.exec<{ browser: number; held_ms: number | null }>(
    `UPDATE jobs SET status = ?, status_code = ?, final_url = ?, blocked_reason = ?, error = ?,
       attempts = MAX(attempts, ?), queue_wait_ms = COALESCE(?, queue_wait_ms), fetch_ms = ?, render_ms = ?,
       body_key = ?, body_offset = ?, body_length = ?, screenshot_key = ?, result_meta = ?,
       markdown_offset = ?, markdown_length = ?, completed_ms = ?, total_ms = ? - COALESCE(released_ms, ?),
       lease_ms = NULL
     WHERE seq = ? AND status IN ('pending', 'in_progress')
     RETURNING browser,
       CASE WHEN released_ms IS NULL THEN NULL ELSE total_ms - COALESCE(?, queue_wait_ms, 0) END AS held_ms`,
    o.status,
    o.status_code,
    o.final_url,
    o.blocked_reason,
    o.error,
    o.attempts,
    o.queue_wait_ms,
    o.fetch_ms,
    o.render_ms,
    o.body_key,
    o.body_offset,
    o.body_length,
    o.screenshot_key,
    o.result_meta,
    o.markdown_offset,
    o.markdown_length,
    completedMs,
    completedMs,
    completedMs,
    seq,
    o.batch_wait_ms ?? null,
  );
  return ended.toArray()[0] ?? null;
}

/** Ends every unfinished job with one status and error (cancel); returns how many it ended. */
export function endUnfinished(sql: SqlStorage, status: TerminalStatus, error: string, completedMs: number): number {
  return sql
    .exec(
      `UPDATE jobs SET status = ?, error = ?, completed_ms = ?, total_ms = ? - COALESCE(released_ms, ?), lease_ms = NULL
       WHERE status IN ('pending', 'in_progress') RETURNING seq`,
      status,
      error,
      completedMs,
      completedMs,
      completedMs,
    )
    .toArray().length;
}

/** Counter and status changes of the run row. */
export function addCounts(sql: SqlStorage, c: { success: number; failed: number; timeout: number }, ts: number) {
  sql.exec(
    `UPDATE run SET success = success + ?, failed = failed + ?, timeout = timeout + ?, last_ts = MAX(last_ts, ?),
       d1_dirty = 1 WHERE id = 1`,
    c.success,
    c.failed,
    c.timeout,
    ts,
  );
}

/** What the outcomes recorded in one transaction add to the run's usage. */
export interface UsageDelta {
  fetch_jobs: number;
  browser_jobs: number;
  browser_ms: number;
  bytes_stored: number;
}

export function addUsage(sql: SqlStorage, u: UsageDelta) {
  sql.exec(
    `UPDATE run SET fetch_jobs = fetch_jobs + ?, browser_jobs = browser_jobs + ?, browser_ms = browser_ms + ?,
       bytes_stored = bytes_stored + ?, d1_dirty = 1 WHERE id = 1`,
    u.fetch_jobs,
    u.browser_jobs,
    u.browser_ms,
    u.bytes_stored,
  );
}

/** Completes the run once its counters reach its total. Returns whether this call completed it. */
export const completeIfDone = (sql: SqlStorage, ts: number): boolean =>
  sql.exec(
    `UPDATE run SET status = 'completed', completed_ms = ?, d1_dirty = 1
     WHERE id = 1 AND status = 'in_progress' AND success + failed + timeout >= total`,
    ts,
  ).rowsWritten > 0;

export const setRunStatus = (sql: SqlStorage, status: RunStatus, completedMs: number) =>
  sql.exec(
    "UPDATE run SET status = ?, completed_ms = ?, d1_dirty = 1 WHERE id = 1 AND status = 'in_progress'",
    status,
    completedMs,
  );

export const setRate = (sql: SqlStorage, rate: number, markMs: number) =>
  sql.exec("UPDATE run SET rate = ?, rate_mark_ms = ?, rate_mark_count = 0 WHERE id = 1", rate, markMs);

export const setServiceMs = (sql: SqlStorage, serviceMs: number) =>
  sql.exec("UPDATE run SET service_ms = ? WHERE id = 1", serviceMs);

export const addRateCount = (sql: SqlStorage, n: number) =>
  sql.exec("UPDATE run SET rate_mark_count = rate_mark_count + ? WHERE id = 1", n);

/** After a sync: counters that moved while it was in flight (`dirty`) stay due for the next one. */
export const markSynced = (sql: SqlStorage, r: { tenantRuns: number; dirty: boolean; at: number; count: number }) =>
  sql.exec(
    "UPDATE run SET d1_dirty = ?, tenant_runs = ?, synced_ms = ?, synced_count = ? WHERE id = 1",
    r.dirty ? 1 : 0,
    r.tenantRuns,
    r.at,
    r.count,
  );

/** A job row as the listing and the result read it (the request's spec stays in the store). */
export interface JobRow {
  seq: number;
  url: string;
  custom_id: string | null;
  browser: number;
  status: JobStatus;
  attempts: number;
  released_ms: number | null;
  completed_ms: number | null;
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

const COLUMNS = `seq, url, custom_id, browser, status, attempts, released_ms, completed_ms, status_code, final_url,
  blocked_reason, error, queue_wait_ms, fetch_ms, render_ms, total_ms, body_key, body_offset, body_length,
  screenshot_key, result_meta`;

/** A job row as the export reads it: the listing's columns and where its kept Markdown lies. */
export interface ExportRow extends JobRow {
  markdown_offset: number | null;
  markdown_length: number | null;
}

/** The extract field names of the jobs created so far, in order of first appearance. */
export const extractFieldNames = (sql: SqlStorage): string[] =>
  sql
    .exec<{ name: string }>("SELECT name FROM extract_fields ORDER BY seq, pos")
    .toArray()
    .map((r) => r.name);

export const specBySeq = (sql: SqlStorage, seq: number): string | null =>
  sql.exec<{ spec: string }>("SELECT spec FROM jobs WHERE seq = ?", seq).toArray()[0]?.spec ?? null;

export const jobBySeq = (sql: SqlStorage, seq: number): JobRow | null =>
  (sql.exec(`SELECT ${COLUMNS} FROM jobs WHERE seq = ?`, seq).toArray()[0] as unknown as JobRow | undefined) ?? null;

/** Jobs in submission order: after `afterSeq`, before `beforeSeq` (none: to the end), of `statuses` (none: any). */
export interface SeqRange {
  afterSeq: number;
  beforeSeq?: number;
  limit: number;
  statuses?: readonly JobStatus[];
}

/**
 * Submission order over a SeqRange: a range of the key, or one range of jobs_by_status per status
 * merged by seq. `withMarkdown` adds where each job's kept Markdown lies (the export's read). The
 * request's spec (up to 64 KB a job) is not read.
 */
export function pageBySeq(sql: SqlStorage, r: SeqRange): JobRow[];
export function pageBySeq(sql: SqlStorage, r: SeqRange, withMarkdown: true): ExportRow[];
export function pageBySeq(sql: SqlStorage, r: SeqRange, withMarkdown = false): ExportRow[] {
  const cols = withMarkdown ? `${COLUMNS}, markdown_offset, markdown_length` : COLUMNS;
  const before = r.beforeSeq ?? Number.MAX_SAFE_INTEGER;
  const range = (status?: JobStatus) => {
    // With a status, a range of jobs_by_status (status, seq); without, of the key.
    const [where, params] = status ? ["status = ? AND ", [status]] : ["", []];
    return sql
      .exec(
        `SELECT ${cols} FROM jobs WHERE ${where}seq > ? AND seq < ? ORDER BY seq LIMIT ?`,
        ...params,
        r.afterSeq,
        before,
        r.limit,
      )
      .toArray() as unknown as ExportRow[];
  };
  if (!r.statuses?.length) return range();
  return r.statuses
    .flatMap((st) => range(st))
    .sort((a, b) => a.seq - b.seq)
    .slice(0, r.limit);
}

/** Completion order of one terminal status after (completedMs, seq): a range of jobs_by_completion. */
export function pageByCompletion(
  sql: SqlStorage,
  status: TerminalStatus,
  after: { completed_ms: number; seq: number },
  limit: number,
): JobRow[] {
  return sql
    .exec(
      `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_completion
       WHERE status = ? AND completed_ms IS NOT NULL AND (completed_ms, seq) > (?, ?)
       ORDER BY completed_ms, seq LIMIT ?`,
      status,
      after.completed_ms,
      after.seq,
      limit,
    )
    .toArray() as unknown as JobRow[];
}

// ── Webhook deliveries ──────────────────────────────────────────────────────────────────────

export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface DeliveryRow {
  seq: number;
  id: string;
  event: "run.completed" | "job.completed";
  url: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_ms: number;
  first_attempt_ms: number | null;
  last_attempt_ms: number | null;
  next_attempt_ms: number | null;
  delivered_ms: number | null;
  queued: number;
  jobs_ms: number | null;
  seq_from: number | null;
  seq_to: number | null;
  job_count: number | null;
}

/** Finished jobs completed after `afterMs`, in completion order: the ranges of jobs_by_completion. */
export const endedSince = (sql: SqlStorage, afterMs: number) =>
  sql
    .exec<{ seq: number; completed_ms: number }>(
      `SELECT seq, completed_ms FROM jobs INDEXED BY jobs_by_completion
       WHERE status IN ('completed', 'failed', 'timeout') AND completed_ms IS NOT NULL AND completed_ms > ?
       ORDER BY completed_ms, seq`,
      afterMs,
    )
    .toArray();

export const setEventsMs = (sql: SqlStorage, ms: number) =>
  sql.exec("UPDATE run SET events_ms = MAX(events_ms, ?) WHERE id = 1", ms);

/** job.completed deliveries, each one recorded batch's jobs (completed at jobs_ms) from seq_from to seq_to. */
export function insertJobDeliveries(
  sql: SqlStorage,
  rows: {
    id: string;
    url: string;
    created_ms: number;
    jobs_ms: number;
    seq_from: number;
    seq_to: number;
    count: number;
  }[],
) {
  for (const r of rows) {
    sql.exec(
      `INSERT INTO deliveries (id, event, url, created_ms, jobs_ms, seq_from, seq_to, job_count)
       VALUES (?, 'job.completed', ?, ?, ?, ?, ?, ?)`,
      r.id,
      r.url,
      r.created_ms,
      r.jobs_ms,
      r.seq_from,
      r.seq_to,
      r.count,
    );
  }
}

/** The run's one run.completed delivery; a second call changes nothing (one_run_completed). */
export const insertRunCompleted = (sql: SqlStorage, id: string, url: string, createdMs: number): boolean =>
  sql.exec(
    "INSERT OR IGNORE INTO deliveries (id, event, url, created_ms) VALUES (?, 'run.completed', ?, ?)",
    id,
    url,
    createdMs,
  ).rowsWritten > 0;

/** Deliveries whose queue message was not sent yet, oldest first. */
export const unqueuedDeliveries = (sql: SqlStorage, limit: number): string[] =>
  sql
    .exec<{ id: string }>("SELECT id FROM deliveries WHERE queued = 0 ORDER BY seq LIMIT ?", limit)
    .toArray()
    .map((r) => r.id);

export const hasUnqueued = (sql: SqlStorage): boolean =>
  sql.exec("SELECT 1 FROM deliveries WHERE queued = 0 LIMIT 1").toArray().length > 0;

export const markQueued = (sql: SqlStorage, ids: string[]) =>
  sql.exec("UPDATE deliveries SET queued = 1 WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids));

export const deliveryById = (sql: SqlStorage, id: string): DeliveryRow | null =>
  (sql.exec("SELECT * FROM deliveries WHERE id = ?", id).toArray()[0] as unknown as DeliveryRow | undefined) ?? null;

export const runCompletedDelivery = (sql: SqlStorage): DeliveryRow | null =>
  (sql.exec("SELECT * FROM deliveries WHERE event = 'run.completed'").toArray()[0] as unknown as
    | DeliveryRow
    | undefined) ?? null;

/** The delivery log in creation order after `afterSeq`. */
export const deliveriesPage = (sql: SqlStorage, afterSeq: number, limit: number): DeliveryRow[] =>
  sql
    .exec("SELECT * FROM deliveries WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
    .toArray() as unknown as DeliveryRow[];

/** The jobs a job.completed delivery announces: one completion instant, one seq range. */
export const jobsOfDelivery = (sql: SqlStorage, d: Pick<DeliveryRow, "jobs_ms" | "seq_from" | "seq_to">) =>
  sql
    .exec(
      `SELECT ${COLUMNS} FROM jobs INDEXED BY jobs_by_completion
       WHERE status IN ('completed', 'failed', 'timeout') AND completed_ms = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
      d.jobs_ms,
      d.seq_from,
      d.seq_to,
    )
    .toArray() as unknown as JobRow[];

/** One attempt's result: its counters, and the delivery's status and next attempt as the caller decided them. */
export function recordAttempt(
  sql: SqlStorage,
  id: string,
  a: {
    at: number;
    status_code: number | null;
    error: string | null;
    status: DeliveryStatus;
    next_attempt_ms: number | null;
  },
) {
  sql.exec(
    `UPDATE deliveries SET attempts = attempts + 1, first_attempt_ms = COALESCE(first_attempt_ms, ?),
       last_attempt_ms = ?, last_status_code = ?, last_error = ?, status = ?, next_attempt_ms = ?,
       delivered_ms = CASE WHEN ? = 'delivered' THEN COALESCE(delivered_ms, ?) ELSE delivered_ms END
     WHERE id = ?`,
    a.at,
    a.at,
    a.status_code,
    a.error,
    a.status,
    a.next_attempt_ms,
    a.status,
    a.at,
    id,
  );
}

/** A delivery whose queue message outlived its retries: failed, unless it was delivered meanwhile. */
export const failDelivery = (sql: SqlStorage, id: string, error: string) =>
  sql.exec(
    `UPDATE deliveries SET status = 'failed', last_error = ?, next_attempt_ms = NULL
     WHERE id = ? AND status = 'pending'`,
    error,
    id,
  );
