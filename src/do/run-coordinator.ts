import { DurableObject } from "cloudflare:workers";
import { instrument } from "../metrics";
import { iso, now } from "../clock";
import { finishJobs, finishUnfinished, jobStatuses, type TerminalWrite } from "../db/jobs";
import { metadataExpired, syncRunCounters } from "../db/runs";
import type { RunStatus, RunSummary } from "../schemas";

export interface RunMeta {
  run_id: string;
  tenant: string;
  collection_id: string;
  total: number;
  created_at_ms: number;
  deadline_ms: number;
}

/** A job's outcome as the consumer reports it; the DO adds completed_at and total_ms. */
export type Outcome = Omit<TerminalWrite, "total_ms">;

/** A job that ends as failed without having been run (it could not be queued, or outlived its retries). */
export const failedOutcome = (job_id: string, error: string): Outcome => ({
  job_id, status: "failed", status_code: null, final_url: null, blocked_reason: null, error,
  queue_wait_ms: null, fetch_ms: null, render_ms: null, body_key: null, body_offset: null, body_length: null,
  screenshot_key: null, result_meta: null,
});

interface RunState extends RunMeta {
  status: RunStatus;
  success: number;
  failed: number;
  timeout: number;
  completed_at_ms: number | null;
  last_ts: number;
  d1_dirty: number;
}

const CHUNK = 5_000;
/** How soon a failed D1 sync of the run row is tried again. */
const RESYNC_MS = 5_000;
/** Least interval between syncs of an in-progress run's counters to its D1 row. */
const SYNC_EVERY_MS = 2_000;

/**
 * One per run: the single writer of its jobs' terminal state and its counters.
 *
 * Invariants it protects:
 * - each job is counted once: `finished` is the set of jobs already counted; D1's
 *   `status NOT IN (terminal)` guard decides which outcome wins when two race;
 * - success + failed + timeout never exceeds total, and the run becomes completed exactly once,
 *   when they reach it;
 * - completed_at strictly increases from one recorded batch to the next (see listJobs);
 * - no run outlives its deadline: the alarm ends what is unfinished as timeout.
 * All writes run one at a time through `serial`, because they await D1 and a DO otherwise
 * interleaves requests across awaits.
 */
export class RunCoordinator extends DurableObject<Env> {
  private sql: SqlStorage;
  private queue: Promise<unknown> = Promise.resolve();
  private lastSync = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
  }

  private migrate() {
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS run (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        run_id TEXT NOT NULL, tenant TEXT NOT NULL, collection_id TEXT NOT NULL, total INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL, deadline_ms INTEGER NOT NULL, status TEXT NOT NULL,
        success INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, timeout INTEGER NOT NULL DEFAULT 0,
        completed_at_ms INTEGER, last_ts INTEGER NOT NULL DEFAULT 0, d1_dirty INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS finished (job_id TEXT PRIMARY KEY, status TEXT NOT NULL) WITHOUT ROWID;
    `);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Null for a run never started here. Tables are created by start() only, so a GET with an
   * unknown run id reads nothing and leaves no Durable Object storage behind.
   */
  private state(): RunState | null {
    try {
      return (this.sql.exec("SELECT * FROM run WHERE id = 1").toArray()[0] as unknown as RunState | undefined) ?? null;
    } catch (e) {
      if (String(e).includes("no such table")) return null;
      throw e;
    }
  }

  /** Idempotent: a second call with the same run changes nothing. */
  async start(meta: RunMeta): Promise<void> {
    if (this.state()) return;
    this.migrate();
    this.sql.exec(
      `INSERT INTO run (id, run_id, tenant, collection_id, total, created_at_ms, deadline_ms, status) VALUES (1, ?, ?, ?, ?, ?, ?, 'in_progress')`,
      meta.run_id, meta.tenant, meta.collection_id, meta.total, meta.created_at_ms, meta.deadline_ms,
    );
    await this.ctx.storage.setAlarm(meta.deadline_ms);
  }

  /**
   * The run as `tenant` may read it: null when it is another tenant's or none, and once its metadata
   * retention ended (API.md: 404 then, whether or not the sweep has deleted this object yet).
   */
  private visible(tenant: string): RunState | null {
    const s = this.state();
    return s && s.tenant === tenant && !metadataExpired(s.completed_at_ms, now()) ? s : null;
  }

  /** The live summary, or null when this run does not exist for this tenant. */
  async snapshot(tenant: string): Promise<RunSummary | null> {
    const s = this.visible(tenant);
    return s ? summaryOf(s) : null;
  }

  /**
   * Records a batch of outcomes of this run. Returns the job ids that are now counted (whether by
   * this call or an earlier one), so the caller can ack their messages.
   */
  record(outcomes: Outcome[], reconcileIds: string[] = []): Promise<{ counted: string[] }> {
    return this.serial(async () => {
      const s = this.state();
      // No state: the run was deleted by retention. Nothing will ever count these jobs again.
      if (!s) return { counted: [...outcomes.map((o) => o.job_id), ...reconcileIds] };
      const known = this.finishedAmong([...outcomes.map((o) => o.job_id), ...reconcileIds]);
      const fresh = outcomes.filter((o) => !known.has(o.job_id));
      const counted = new Set(known);
      if (fresh.length > 0) {
        const ts = this.nextTs(s);
        const writes: TerminalWrite[] = fresh.map((o) => ({ ...o, total_ms: Math.max(0, ts - s.created_at_ms) }));
        const won = await finishJobs(this.env.DB, s.run_id, iso(ts), writes);
        const wonIds = new Set(won.map((w) => w.job_id));
        // Jobs D1 already had as finished without this DO counting them: an earlier record() that
        // died between its D1 write and its own commit. Count them with the status D1 holds.
        const lost = fresh.filter((o) => !wonIds.has(o.job_id)).map((o) => o.job_id);
        const settled = lost.length ? (await jobStatuses(this.env.DB, lost)).filter((j) => isTerminal(j.status)) : [];
        this.count([...won, ...settled] as { job_id: string; status: TerminalWrite["status"] }[], ts);
        for (const j of [...won, ...settled]) counted.add(j.job_id);
      }
      const stray = reconcileIds.filter((id) => !counted.has(id));
      if (stray.length) {
        const settled = (await jobStatuses(this.env.DB, stray)).filter((j) => isTerminal(j.status));
        this.count(settled as { job_id: string; status: TerminalWrite["status"] }[], this.nextTs(this.state()!));
        for (const j of settled) counted.add(j.job_id);
      }
      await this.syncD1();
      return { counted: [...counted] };
    });
  }

  /** Cancels the run: unfinished jobs end as failed ("cancelled"); the counters still add up. */
  cancel(tenant: string): Promise<RunSummary | null> {
    return this.serial(async () => {
      const s = this.visible(tenant);
      if (!s) return null;
      if (s.status === "in_progress") await this.endUnfinished("failed", "cancelled", "cancelled");
      await this.syncD1();
      return summaryOf(this.state()!);
    });
  }

  /** The deadline watchdog (also driven by the cron backstop and by tests). */
  async alarm(): Promise<void> {
    await this.serial(async () => {
      const s = this.state();
      if (!s) return;
      if (s.status === "in_progress" && now() >= s.deadline_ms) {
        await this.endUnfinished("timeout", "the run reached its deadline before this job finished", "completed");
      } else if (s.status === "in_progress") {
        await this.ctx.storage.setAlarm(s.deadline_ms);
      }
      await this.syncD1(true);
    });
  }

  /** For the cron backstop: a run D1 thinks is overdue whose DO may never have started. */
  async expire(meta: RunMeta): Promise<void> {
    await this.start(meta);
    await this.alarm();
  }

  /**
   * Retention: forget everything. Idempotent and writes nothing when there is nothing, so the sweep
   * may repeat it; only start() (POST /run, or the backstop's expire() for a run D1 still has in
   * progress) creates state, and the sweep destroys only runs D1 has completed, so a destroyed run
   * is never started again. The sweep deletes the D1 run row after this, never before.
   */
  async destroy(): Promise<void> {
    await this.serial(async () => {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
    });
  }

  private async endUnfinished(status: "failed" | "timeout", error: string, runStatus: RunStatus) {
    for (;;) {
      const s = this.state()!;
      const ts = this.nextTs(s);
      const ended = await finishUnfinished(this.env.DB, s.run_id, status, error, iso(ts), CHUNK);
      this.count(ended, ts, runStatus);
      if (ended.length < CHUNK) break;
    }
    const s = this.state()!;
    // Every job now has an outcome in D1; counters can only be short if a D1 write of an earlier
    // batch was lost before this DO counted it, which the reconcile below repairs.
    if (s.success + s.failed + s.timeout < s.total) await this.reconcileAll(runStatus);
    const after = this.state()!;
    if (after.status === "in_progress") {
      this.sql.exec("UPDATE run SET status = ?, completed_at_ms = ?, d1_dirty = 1 WHERE id = 1", runStatus, after.last_ts);
    }
  }

  /** Recounts from D1 (rare path): the finished set is rebuilt from the jobs' stored statuses. */
  private async reconcileAll(runStatus: RunStatus) {
    const s = this.state()!;
    const { results } = await this.env.DB.prepare(
      "SELECT job_id, status FROM jobs WHERE run_id = ?1 AND status IN ('completed', 'failed', 'timeout')",
    )
      .bind(s.run_id)
      .all<{ job_id: string; status: TerminalWrite["status"] }>();
    const known = this.finishedAmong(results.map((r) => r.job_id));
    this.count(results.filter((r) => !known.has(r.job_id)), s.last_ts, runStatus);
  }

  private finishedAmong(ids: string[]): Set<string> {
    if (ids.length === 0) return new Set();
    const rows = this.sql.exec("SELECT job_id FROM finished WHERE job_id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray();
    return new Set(rows.map((r) => r.job_id as string));
  }

  /** Strictly later than the previous batch, so "completed strictly after T" never misses a batch. */
  private nextTs(s: RunState): number {
    return Math.max(now(), s.last_ts + 1);
  }

  /** Adds newly ended jobs to the finished set and the counters, and completes the run at total. */
  private count(jobs: { job_id: string; status: TerminalWrite["status"] }[], ts: number, completeAs: RunStatus = "completed") {
    this.ctx.storage.transactionSync(() => {
      let success = 0, failed = 0, timeout = 0;
      for (const j of jobs) {
        const inserted = this.sql.exec("INSERT OR IGNORE INTO finished (job_id, status) VALUES (?, ?)", j.job_id, j.status).rowsWritten;
        if (!inserted) continue;
        if (j.status === "completed") success++;
        else if (j.status === "failed") failed++;
        else timeout++;
      }
      this.sql.exec(
        "UPDATE run SET success = success + ?, failed = failed + ?, timeout = timeout + ?, last_ts = MAX(last_ts, ?), d1_dirty = 1 WHERE id = 1",
        success, failed, timeout, ts,
      );
      this.sql.exec(
        `UPDATE run SET status = ?, completed_at_ms = ? WHERE id = 1 AND status = 'in_progress' AND success + failed + timeout >= total`,
        completeAs, ts,
      );
    });
  }

  /**
   * Copies the counters (absolute values) to the D1 run row; retried by the alarm if D1 fails.
   * While the run is in progress at most every SYNC_EVERY_MS (the live status comes from this DO;
   * the D1 row only serves the list of runs), which saves a D1 write per recorded batch; a change
   * of status is written at once.
   */
  private async syncD1(force = false) {
    const s = this.state();
    if (!s || !s.d1_dirty) return;
    if (!force && s.status === "in_progress" && Date.now() - this.lastSync < SYNC_EVERY_MS) {
      const at = this.lastSync + SYNC_EVERY_MS;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > at) await this.ctx.storage.setAlarm(at);
      return;
    }
    try {
      await syncRunCounters(this.env.DB, {
        id: s.run_id,
        status: s.status,
        success: s.success,
        failed: s.failed,
        timeout: s.timeout,
        completed_at: s.completed_at_ms === null ? null : iso(s.completed_at_ms),
      }).run();
      this.sql.exec("UPDATE run SET d1_dirty = 0 WHERE id = 1");
      this.lastSync = Date.now();
      if (s.status !== "in_progress") await this.ctx.storage.deleteAlarm();
    } catch (e) {
      console.error("run counter sync failed; retrying from the alarm", e);
      await this.ctx.storage.setAlarm(now() + RESYNC_MS);
    }
  }
}

const isTerminal = (s: string) => s === "completed" || s === "failed" || s === "timeout";

function summaryOf(s: RunState): RunSummary {
  return {
    run_id: s.run_id,
    status: s.status,
    total_requests: s.total,
    success_requests: s.success,
    failed_requests: s.failed,
    timeout_requests: s.timeout,
    collection_id: s.collection_id,
    created_at: iso(s.created_at_ms),
    completed_at: s.completed_at_ms === null ? null : iso(s.completed_at_ms),
  };
}
