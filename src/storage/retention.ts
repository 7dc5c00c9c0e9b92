import { iso } from "../clock";
import { LIMITS } from "../config";
import { deleteRunChunk } from "../db/jobs";
import { expiredRuns, overdueRuns, type RunRow } from "../db/runs";
import { runObject } from "../do/objects";
import { sweepBodies } from "./bodies";

/** Jobs deleted per statement, so one sweep step never holds D1 for long. */
const DELETE_CHUNK = 5_000;

export interface SweepReport {
  bodies_deleted: number;
  runs_deleted: number;
  overdue_runs_expired: number;
}

/**
 * The scheduled sweep (cron; also what the tests drive with a fixed clock):
 * - R2 bodies and screenshots 48 h after completion (production also has the R2 lifecycle rule);
 * - run and job metadata 90 days after the run completed, the run's DO state with it;
 * - the backstop for a run whose DO never armed its deadline alarm.
 */
export async function sweep(env: Env, nowMs: number): Promise<SweepReport> {
  const bodies_deleted = await sweepBodies(env.BODIES, nowMs);

  let runs_deleted = 0;
  for (const runId of await expiredRuns(env.DB, iso(nowMs - LIMITS.metadataRetentionMs), 100)) {
    while (!(await deleteRunChunk(env.DB, runId, DELETE_CHUNK))) {
      // keep deleting this run's jobs
    }
    await runObject(env, runId).destroy();
    runs_deleted++;
  }

  const overdue = await overdueRuns(env.DB, iso(nowMs - 60_000), 100);
  await Promise.all(overdue.map((r: RunRow) => runObject(env, r.id).expire(metaOf(r))));
  return { bodies_deleted, runs_deleted, overdue_runs_expired: overdue.length };
}

const metaOf = (r: RunRow) => ({
  run_id: r.id,
  tenant: r.tenant,
  collection_id: r.collection_id,
  total: r.total_requests,
  created_at_ms: Date.parse(r.created_at),
  deadline_ms: Date.parse(r.deadline_at),
});
