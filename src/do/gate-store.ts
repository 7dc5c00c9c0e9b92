/**
 * The HostGate's SQL over its own SQLite, one operation per function, rows in and rows out. A
 * gate is one tenant's: `grants` says how many jobs each run of the tenant has in flight to each
 * host (with the instant the gate forgets them unless the run renews them), `hosts` keeps a host's
 * time limits only while one is in the future, and `waiters` the runs that asked for a full host.
 */
import { applyMigrations } from "./sql-migrations";

const MIGRATIONS: string[] = [
  `CREATE TABLE grants (
     host TEXT NOT NULL, run_id TEXT NOT NULL, slots INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
     PRIMARY KEY (host, run_id)
   ) WITHOUT ROWID;
   CREATE INDEX grants_by_run ON grants (run_id);
   CREATE INDEX grants_by_expiry ON grants (expires_ms);
   CREATE TABLE hosts (
     host TEXT PRIMARY KEY, next_start_ms INTEGER NOT NULL DEFAULT 0, backoff_until_ms INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE waiters (
     host TEXT NOT NULL, run_id TEXT NOT NULL, until_ms INTEGER NOT NULL, PRIMARY KEY (host, run_id)
   ) WITHOUT ROWID;`,
];

export function migrate(sql: SqlStorage): void {
  applyMigrations(sql, MIGRATIONS);
}

/** Grants of runs that stopped renewing them (a run whose object failed before returning its slots). */
export const dropExpired = (sql: SqlStorage, nowMs: number) =>
  sql.exec("DELETE FROM grants WHERE expires_ms < ?", nowMs).rowsWritten;

/** A run's grants, by host. */
export function grantsOf(sql: SqlStorage, runId: string): Map<string, number> {
  const rows = sql.exec<{ host: string; slots: number }>("SELECT host, slots FROM grants WHERE run_id = ?", runId);
  return new Map(rows.toArray().map((r) => [r.host, r.slots]));
}

/** Sets a run's grant on a host (zero deletes it), renewed until `expiresMs`. */
export function setGrant(sql: SqlStorage, host: string, runId: string, slots: number, expiresMs: number) {
  if (slots <= 0) sql.exec("DELETE FROM grants WHERE host = ? AND run_id = ?", host, runId);
  else
    sql.exec(
      `INSERT INTO grants (host, run_id, slots, expires_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (host, run_id) DO UPDATE SET slots = excluded.slots, expires_ms = excluded.expires_ms`,
      host,
      runId,
      slots,
      expiresMs,
    );
}

/** Jobs in flight to a host over all the tenant's runs. */
export const inFlight = (sql: SqlStorage, host: string): number =>
  sql.exec<{ n: number }>("SELECT COALESCE(SUM(slots), 0) AS n FROM grants WHERE host = ?", host).one().n;

/** A host's time limits (zeros when none is in the future). */
export function hostTimes(sql: SqlStorage, host: string): { next_start_ms: number; backoff_until_ms: number } {
  const row = sql
    .exec<{ next_start_ms: number; backoff_until_ms: number }>(
      "SELECT next_start_ms, backoff_until_ms FROM hosts WHERE host = ?",
      host,
    )
    .toArray()[0];
  return row ?? { next_start_ms: 0, backoff_until_ms: 0 };
}

/** Moves a host's limits later (never earlier): the next start after a returned slot, or a backoff. */
export const pushHostTimes = (
  sql: SqlStorage,
  host: string,
  t: { next_start_ms?: number; backoff_until_ms?: number },
) =>
  sql.exec(
    `INSERT INTO hosts (host, next_start_ms, backoff_until_ms) VALUES (?1, ?2, ?3)
     ON CONFLICT (host) DO UPDATE SET next_start_ms = MAX(next_start_ms, ?2),
       backoff_until_ms = MAX(backoff_until_ms, ?3)`,
    host,
    t.next_start_ms ?? 0,
    t.backoff_until_ms ?? 0,
  );

/** Forgets host limits that are over, so the table holds only hosts with one in the future. */
export const dropPastHosts = (sql: SqlStorage, nowMs: number) =>
  sql.exec("DELETE FROM hosts WHERE next_start_ms < ?1 AND backoff_until_ms < ?1", nowMs);

/** Runs other than `runId` still waiting for a host. */
export const otherWaiters = (sql: SqlStorage, host: string, runId: string, nowMs: number): number =>
  sql
    .exec<{ n: number }>(
      "SELECT count(*) AS n FROM waiters WHERE host = ? AND run_id <> ? AND until_ms >= ?",
      host,
      runId,
      nowMs,
    )
    .one().n;

/** The runs other than `runId` holding slots on a host. */
export const holdersOf = (sql: SqlStorage, host: string, runId: string): string[] =>
  sql
    .exec<{ run_id: string }>("SELECT run_id FROM grants WHERE host = ? AND run_id <> ? AND slots > 0", host, runId)
    .toArray()
    .map((r) => r.run_id);

/** Marks (until `untilMs`) or clears (null) a run as waiting for a host. */
export function setWaiter(sql: SqlStorage, host: string, runId: string, untilMs: number | null) {
  if (untilMs === null) sql.exec("DELETE FROM waiters WHERE host = ? AND run_id = ?", host, runId);
  else
    sql.exec(
      `INSERT INTO waiters (host, run_id, until_ms) VALUES (?, ?, ?)
       ON CONFLICT (host, run_id) DO UPDATE SET until_ms = excluded.until_ms`,
      host,
      runId,
      untilMs,
    );
}

export const dropPastWaiters = (sql: SqlStorage, nowMs: number) =>
  sql.exec("DELETE FROM waiters WHERE until_ms < ?", nowMs);

/** Everything a run holds or waits for (its end). */
export function dropRun(sql: SqlStorage, runId: string) {
  sql.exec("DELETE FROM grants WHERE run_id = ?", runId);
  sql.exec("DELETE FROM waiters WHERE run_id = ?", runId);
}
