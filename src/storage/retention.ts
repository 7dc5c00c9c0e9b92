import { iso } from "../clock";
import { LIMITS } from "../config";
import { deleteRun, expiredRuns, quietRuns, type RunRow } from "../db/runs";
import { runObject } from "../do/objects";
import { sweepBodies } from "./bodies";

/** Runs handled per sweep step of each kind (a DO call and a D1 statement each). */
const RUNS_PER_SWEEP = 200;
/** An in-progress run whose object has not written its D1 row for this long is looked at by the backstop. */
const QUIET_MS = 15 * 60_000;

export interface SweepReport {
  bodies_deleted: number;
  runs_deleted: number;
  quiet_runs_resumed: number;
}

/**
 * The scheduled sweep (cron; also what the tests drive with a fixed clock):
 * - R2 bodies and screenshots 48 h after completion (production also has the R2 lifecycle rule);
 * - D1 run rows 90 days after the run completed, the run's object first (it also deletes itself
 *   from its own alarm), so a row is never left pointing at nothing it could recreate;
 * - the backstop for a run in progress whose object went quiet: it is resumed (started if it
 *   never was), never recreated after deletion, since deleted runs have no row in progress.
 */
export async function sweep(env: Env, nowMs: number): Promise<SweepReport> {
  const bodies_deleted = await sweepBodies(env.BODIES, nowMs);

  const expired = await expiredRuns(env.DB, iso(nowMs - LIMITS.metadataRetentionMs), RUNS_PER_SWEEP);
  for (const runId of expired) {
    await runObject(env, runId).destroy();
    await deleteRun(env.DB, runId);
  }

  const quiet = await quietRuns(env.DB, iso(nowMs - QUIET_MS), RUNS_PER_SWEEP);
  await Promise.all(quiet.map((r) => runObject(env, r.id).resume(startOf(r))));
  return { bodies_deleted, runs_deleted: expired.length, quiet_runs_resumed: quiet.length };
}

/** What a run's object needs to start from its D1 row (it then reads the pinned request list). */
const startOf = (r: RunRow) => ({
  run_id: r.id,
  tenant: r.tenant,
  collection_id: r.collection_id,
  job_prefix: r.id.slice(0, 24),
  requests_version: r.requests_version,
  total: r.total_requests,
  browser_total: 0,
  created_ms: Date.parse(r.created_at),
  tenant_runs: 1,
});
