import { iso } from "../clock";
import { deleteCollectionRow, deletedCollections, deleteRequestsPage, markCollectionDeleted } from "../db/collections";
import { collectionRunsPage, type DeletedRunRow, deleteRuns, runsInProgress } from "../db/runs";
import { runObject } from "../do/objects";
import { deletePrefix, hourOf, lastExpiredHour, runHourPrefix } from "./bodies";
import type { Budget } from "./budget";

/** Runs in progress the DELETE request cancels itself; the cron cancels any beyond them. */
const CANCEL_IN_REQUEST = 50;
/**
 * How long after a run ended a consumer may still store a page of it: a job already in a consumer
 * when the run was cancelled starts within 45 s of its batch (15 s for a fetch job), runs for at
 * most the 120 s timeout cap and is flushed within 30 s (test/unit/batch-settings.test.ts). A run's
 * bodies are deleted only after this, so those pages go too. A copy still queued past it (a retry
 * backing off) is stored by nobody's record and goes with the 48 h sweep.
 */
export const LATE_WRITES_MS = 5 * 60_000;
/** Runs read per D1 query, request rows deleted per statement, collections looked at per invocation. */
const RUN_PAGE = 50;
const REQUEST_PAGE = 5_000;
const COLLECTIONS_PAGE = 10;
const HOUR_MS = 3600_000;

/**
 * DELETE of a collection, the part done in the request: the mark (from its commit every URL of the
 * collection and its runs answers 404, and no run of it can start), then the cancel of its runs in
 * progress, a bounded number of them; the cron does the rest in steps (continueDeletions). Returns
 * false when the tenant has no such collection (or it was deleted already): nothing changes.
 */
export async function deleteCollection(env: Env, tenant: string, id: string, atMs: number): Promise<boolean> {
  if (!(await markCollectionDeleted(env.DB, tenant, id, iso(atMs)))) return false;
  const running = await runsInProgress(env.DB, id, CANCEL_IN_REQUEST);
  const cancelled = await Promise.allSettled(running.map((r) => runObject(env, r.id).cancel(r.tenant)));
  for (const r of cancelled) {
    if (r.status === "rejected") console.error("deleting a collection: a cancel failed; the cron retries it", r.reason);
  }
  return true;
}

export interface DeletionReport {
  collections_deleted: number;
  runs_deleted: number;
  /** False when the budget ran out with work left that was due; runs waiting out LATE_WRITES_MS are not. */
  complete: boolean;
}

/**
 * The cron's share of collection deletions, within `budget` (D1 statements, DO calls, R2 requests).
 * Per collection: each run in progress is cancelled; each ended run, LATE_WRITES_MS after its end,
 * has its object purged (its row synced a last time, then its storage, job records included,
 * deleted), its bodies and screenshots deleted hour prefix by hour prefix, and then its D1 row; with
 * no run left, the request lists (every version) go in pages, and the collection's row last. Every
 * step reads what is left, so an invocation cut short anywhere leaves the rest to the next one.
 */
export async function continueDeletions(env: Env, nowMs: number, budget: Budget): Promise<DeletionReport> {
  const report: DeletionReport = { collections_deleted: 0, runs_deleted: 0, complete: true };
  if (!budget.take()) return { ...report, complete: false };
  for (const col of await deletedCollections(env.DB, COLLECTIONS_PAGE)) {
    const r = await continueDeletion(env, col.id, nowMs, budget);
    report.runs_deleted += r.runs;
    if (r.state === "deleted") report.collections_deleted++;
    if (r.state === "cut") return { ...report, complete: false };
  }
  return report;
}

type Step = "done" | "waiting" | "cut";

async function continueDeletion(
  env: Env,
  collectionId: string,
  nowMs: number,
  budget: Budget,
): Promise<{ runs: number; state: "deleted" | "waiting" | "cut" }> {
  let runs = 0;
  let waiting = false;
  let after: [string, string] | null = null;
  for (;;) {
    // A page costs its query and, at the end, the delete of its finished rows: kept back throughout.
    if (!budget.take(2)) return { runs, state: "cut" };
    const page = await collectionRunsPage(env.DB, collectionId, after, RUN_PAGE);
    if (page.length === 0) break;
    after = [page.at(-1)!.created_at, page.at(-1)!.id];
    const done: string[] = [];
    let cut = false;
    for (const run of page) {
      const step = await runStep(env, run, nowMs, budget);
      if (step === "done") done.push(run.id);
      else if (step === "waiting") waiting = true;
      else {
        cut = true;
        break;
      }
    }
    if (done.length) {
      budget.take();
      await deleteRuns(env.DB, done);
      runs += done.length;
    }
    if (cut) return { runs, state: "cut" };
  }
  if (waiting) return { runs, state: "waiting" };
  for (;;) {
    if (!budget.take(1)) return { runs, state: "cut" };
    if ((await deleteRequestsPage(env.DB, collectionId, REQUEST_PAGE)) < REQUEST_PAGE) break;
  }
  budget.take();
  // False only when a request list was written under it since (a replace racing the DELETE): next time.
  return { runs, state: (await deleteCollectionRow(env.DB, collectionId)) ? "deleted" : "waiting" };
}

/**
 * One run of a deleted collection: cancelled if in progress, purged once LATE_WRITES_MS passed since
 * it ended. Spends with one operation kept back for the delete of the page's rows. A failing object
 * or bucket leaves the run for the next invocation, and the others go on.
 */
async function runStep(env: Env, run: DeletedRunRow, nowMs: number, budget: Budget): Promise<Step> {
  try {
    let endedMs = run.completed_at === null ? null : Date.parse(run.completed_at);
    if (run.status === "in_progress") {
      if (!budget.take(1)) return "cut";
      const s = await runObject(env, run.id).cancel(run.tenant);
      // An object that holds no run never started (or was purged): it released nothing to wait for.
      if (s) return "waiting";
      endedMs = null;
    }
    if (endedMs !== null && endedMs + LATE_WRITES_MS > nowMs) return "waiting";
    if (!budget.take(1)) return "cut";
    if (!(await runObject(env, run.id).purge())) return "waiting";
    return (await deleteBodies(env, run, endedMs ?? nowMs, nowMs, budget)) ? "done" : "cut";
  } catch (e) {
    console.error("deleting a collection: a run's step failed; retried next invocation", run.id, e);
    return "waiting";
  }
}

/**
 * The run's pages and screenshots: its hour prefixes from its creation to LATE_WRITES_MS after its
 * end, except hours the retention sweep owns already (past 48 h). False when the budget ran out.
 */
async function deleteBodies(env: Env, run: DeletedRunRow, endedMs: number, nowMs: number, budget: Budget) {
  const expired = lastExpiredHour(nowMs);
  const last = Math.min(nowMs, endedMs + LATE_WRITES_MS);
  const first = Date.parse(run.created_at);
  for (let t = first - (first % HOUR_MS); t <= last; t += HOUR_MS) {
    const hour = hourOf(t);
    if (hour <= expired) continue;
    const r = await deletePrefix(env.BODIES, runHourPrefix(hour, run.tenant, run.id), budget, 1);
    if (!r.complete) return false;
  }
  return true;
}
