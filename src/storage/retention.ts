import { iso } from "../clock";
import { deleteJobsChunk } from "../db/jobs";
import { deleteRuns, expiredRuns, overdueRuns, type RunRow } from "../db/runs";
import { runObject } from "../do/objects";
import { sweepBodies } from "./bodies";
import { Budget } from "./budget";

/**
 * Operations one sweep invocation makes at most: D1 statements, Durable Object calls and R2
 * requests. A Worker invocation may make 1,000 (D1's queries per invocation; DO and R2 calls count
 * as subrequests toward the same figure). Half of it leaves a wide margin whichever way the platform
 * counts a call we count as one, and keeps an invocation short (at most ~500 statements that each
 * delete 5,000 jobs). README ("Retention sweep") derives the throughput from it.
 */
export const SWEEP_BUDGET = 500;
/** The most the R2 sweep may take, so a backlog of bodies never starves metadata retention. */
const BODIES_SHARE = 100;
/** The most the backstop may take: its query and one DO call per overdue run. */
const BACKSTOP_SHARE = 51;
/** Expired runs read per query. */
const RUN_PAGE = 100;
/** Jobs deleted per statement, so one statement never holds D1 for long. */
const DELETE_CHUNK = 5_000;

export interface SweepReport {
  /** Operations spent, at most SWEEP_BUDGET. */
  operations: number;
  bodies_deleted: number;
  runs_deleted: number;
  jobs_deleted: number;
  overdue_runs_expired: number;
  /** False when the budget ran out with bodies or runs left to delete; the next invocation continues. */
  complete: boolean;
}

/**
 * The scheduled sweep (cron; also what the tests drive with a fixed clock), in bounded steps:
 * - the backstop for runs whose DO never armed its deadline alarm;
 * - R2 bodies and screenshots 48 h after completion (production also has the R2 lifecycle rule);
 * - run and job metadata 90 days after the run completed, the run's DO storage with it.
 * Reads stop showing an expired run on their own (retained() in db/runs), so a backlog here is
 * storage not yet reclaimed, never data still served.
 */
export async function sweep(env: Env, nowMs: number, budget = new Budget(SWEEP_BUDGET)): Promise<SweepReport> {
  const overdue_runs_expired = await expireOverdue(env, nowMs, budget.share(BACKSTOP_SHARE));
  const bodies = await sweepBodies(env.BODIES, nowMs, budget.share(BODIES_SHARE));
  const runs = await deleteExpiredRuns(env, nowMs, budget);
  return {
    operations: budget.used,
    bodies_deleted: bodies.deleted,
    runs_deleted: runs.runs,
    jobs_deleted: runs.jobs,
    overdue_runs_expired,
    complete: bodies.complete && runs.complete,
  };
}

async function expireOverdue(env: Env, nowMs: number, budget: Budget): Promise<number> {
  if (!budget.take(1)) return 0;
  const overdue = await overdueRuns(env.DB, iso(nowMs - 60_000), budget.left);
  const results = await Promise.allSettled(
    overdue.filter(() => budget.take()).map((r) => runObject(env, r.id).expire(metaOf(r))),
  );
  for (const r of results) {
    if (r.status === "rejected") console.error("backstop: expiring an overdue run failed", r.reason);
  }
  return results.filter((r) => r.status === "fulfilled").length;
}

/**
 * Expired runs, oldest first, page by page: each run's step (purgeRun), then one statement for the
 * rows of the runs whose step finished. The row goes last because it is the only record of the
 * run: while it exists the next invocation finds the run again and resumes its step.
 */
async function deleteExpiredRuns(env: Env, nowMs: number, budget: Budget) {
  let runs = 0;
  let jobs = 0;
  const failed: string[] = [];
  // A page costs its query, one step operation at least, and the delete of its finished rows.
  while (budget.left >= 3) {
    budget.take();
    const page = await expiredRuns(env.DB, nowMs, RUN_PAGE, failed);
    if (page.length === 0) return { runs, jobs, complete: failed.length === 0 };
    const done: string[] = [];
    let cut = false;
    for (const runId of page) {
      // One operation stays kept for the delete of the finished runs' rows below.
      const step = await purgeRun(env, runId, budget, 1).catch((e: unknown) => {
        console.error("retention: deleting an expired run failed; retried next invocation", runId, e);
        failed.push(runId);
        return null;
      });
      if (!step) continue;
      jobs += step.jobs;
      if (!step.done) {
        cut = true;
        break;
      }
      done.push(runId);
    }
    if (done.length) {
      budget.take();
      await deleteRuns(env.DB, done);
      runs += done.length;
    }
    if (cut) return { runs, jobs, complete: false };
  }
  return { runs, jobs, complete: false };
}

/**
 * One run's retention step, everything but its D1 row: its jobs in chunks, then its Durable
 * Object's storage. Every part is idempotent, so a step the budget cut short simply runs again
 * next time. (Once jobs live in the run's DO, the step is that object deleting its own storage.)
 */
async function purgeRun(env: Env, runId: string, budget: Budget, keep: number) {
  let jobs = 0;
  for (;;) {
    if (!budget.take(keep)) return { done: false, jobs };
    const n = await deleteJobsChunk(env.DB, runId, DELETE_CHUNK);
    jobs += n;
    if (n < DELETE_CHUNK) break;
  }
  if (!budget.take(keep)) return { done: false, jobs };
  await runObject(env, runId).destroy();
  return { done: true, jobs };
}

const metaOf = (r: RunRow) => ({
  run_id: r.id,
  tenant: r.tenant,
  collection_id: r.collection_id,
  total: r.total_requests,
  created_at_ms: Date.parse(r.created_at),
  deadline_ms: Date.parse(r.deadline_at),
});
