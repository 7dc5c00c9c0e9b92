import { iso } from "../clock";
import { deleteRuns, expiredRuns, quietRuns } from "../db/runs";
import { deleteUsageBefore, firstKeptDay } from "../db/usage";
import { startOf } from "../do/run-coordinator";
import { runObject } from "../do/objects";
import { sweepBodies } from "./bodies";
import { Budget } from "./budget";
import { continueDeletions } from "./deletion";

/**
 * Operations one sweep invocation makes at most: D1 statements, Durable Object calls and R2
 * requests. A Worker invocation may make 1,000 (D1's queries per invocation; DO and R2 calls count
 * as subrequests toward the same figure). Half of it leaves a wide margin whichever way the platform
 * counts a call we count as one. README ("Retention sweep") derives the throughput from it.
 */
export const SWEEP_BUDGET = 500;
/** The most the R2 sweep may take, so a backlog of bodies never starves metadata retention. */
const BODIES_SHARE = 100;
/** The most the backstop may take: its query and one DO call per quiet run. */
const BACKSTOP_SHARE = 51;
/** The most deleted collections may take (DELETE /v1/async/collections/{id}, continued here). */
const DELETIONS_SHARE = 200;
/** Expired usage days deleted per invocation (one statement). */
const USAGE_PAGE = 1_000;
/** Expired runs read per query. */
const RUN_PAGE = 100;
/** An in-progress run whose object has not written its D1 row for this long is looked at by the backstop. */
const QUIET_MS = 15 * 60_000;

export interface SweepReport {
  /** Operations spent, at most SWEEP_BUDGET. */
  operations: number;
  bodies_deleted: number;
  runs_deleted: number;
  quiet_runs_resumed: number;
  /** Collections whose deletion finished, and runs of deleted collections deleted. */
  collections_deleted: number;
  deleted_runs_deleted: number;
  usage_days_deleted: number;
  /** False when the budget ran out with bodies or runs left to delete; the next invocation continues. */
  complete: boolean;
}

/**
 * The scheduled sweep (cron; also what the tests drive with a fixed clock), in bounded steps:
 * - the backstop for a run in progress whose object went quiet: it is resumed (started from its
 *   row if it never was); a deleted run has no row in progress, so it is never recreated;
 * - R2 bodies and screenshots 48 h after completion (production also has the R2 lifecycle rule);
 * - deleted collections: their runs (objects, bodies, rows), request lists and rows (storage/deletion);
 * - D1 run rows 90 days after the run completed, the run's object's storage first (the object also
 *   deletes itself from its own alarm), so a row never outlives knowledge of what to delete;
 * - usage days past their 90 days, with what budget is left.
 * Reads stop showing an expired run on their own (retained() in db/runs, the same rule in the run's
 * object), so a backlog here is storage not yet reclaimed, never data still served.
 */
export async function sweep(env: Env, nowMs: number, budget = new Budget(SWEEP_BUDGET)): Promise<SweepReport> {
  const quiet_runs_resumed = await resumeQuiet(env, nowMs, budget.share(BACKSTOP_SHARE));
  const bodies = await sweepBodies(env.BODIES, nowMs, budget.share(BODIES_SHARE));
  const deletions = await continueDeletions(env, nowMs, budget.share(DELETIONS_SHARE));
  const runs = await deleteExpiredRuns(env, nowMs, budget);
  const usageDays = budget.take() ? await deleteUsageBefore(env.DB, firstKeptDay(nowMs), USAGE_PAGE) : 0;
  return {
    operations: budget.used,
    bodies_deleted: bodies.deleted,
    runs_deleted: runs.runs,
    quiet_runs_resumed,
    collections_deleted: deletions.collections_deleted,
    deleted_runs_deleted: deletions.runs_deleted,
    usage_days_deleted: usageDays,
    complete: bodies.complete && deletions.complete && runs.complete,
  };
}

async function resumeQuiet(env: Env, nowMs: number, budget: Budget): Promise<number> {
  if (!budget.take(1)) return 0;
  const quiet = await quietRuns(env.DB, iso(nowMs - QUIET_MS), budget.left);
  const results = await Promise.allSettled(
    quiet
      .filter(() => budget.take())
      .map((r) => runObject(env, r.id).resume(startOf(r, { browser_total: 0, tenant_runs: 1 }))),
  );
  for (const r of results) {
    if (r.status === "rejected") console.error("backstop: resuming a quiet run failed", r.reason);
  }
  return results.filter((r) => r.status === "fulfilled").length;
}

/**
 * Expired runs, oldest first, page by page: each run's object deletes its storage, then one
 * statement deletes the rows of the runs whose objects are done. The row goes last because it is
 * the only record of the run: while it exists the next invocation finds the run again.
 */
async function deleteExpiredRuns(env: Env, nowMs: number, budget: Budget) {
  let runs = 0;
  const failed: string[] = [];
  // A page costs its query, one DO call at least, and the delete of its finished rows.
  while (budget.left >= 3) {
    budget.take();
    const page = await expiredRuns(env.DB, nowMs, RUN_PAGE, failed);
    if (page.length === 0) return { runs, complete: failed.length === 0 };
    const done: string[] = [];
    for (const runId of page) {
      // One operation stays kept for the delete of the finished runs' rows below.
      if (!budget.take(1)) break;
      try {
        await runObject(env, runId).destroy();
        done.push(runId);
      } catch (e) {
        console.error("retention: deleting an expired run failed; retried next invocation", runId, e);
        failed.push(runId);
      }
    }
    if (done.length) {
      budget.take();
      await deleteRuns(env.DB, done);
      runs += done.length;
    }
    if (done.length + failed.length < page.length) return { runs, complete: false };
  }
  return { runs, complete: false };
}
