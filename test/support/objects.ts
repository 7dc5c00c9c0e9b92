/** Looking into run objects and driving the retention cron, as the retention and deletion tests do. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { setNow } from "../../src/clock";
import type { RunCoordinator } from "../../src/do/run-coordinator";
import { instrument, resetUsage, usage } from "../../src/metrics";
import type { Budget } from "../../src/storage/budget";
import { type SweepReport, sweep } from "../../src/storage/retention";

/** Whether the run's Durable Object still holds anything: its tables or an alarm. */
export const objectHolds = (runId: string) =>
  runInDurableObject(env.RUNS.get(env.RUNS.idFromName(runId)), async (_: RunCoordinator, state: DurableObjectState) => {
    const tables = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('run', 'jobs')").toArray();
    return tables.length > 0 || (await state.storage.getAlarm()) !== null;
  });

/**
 * One cron invocation at `atMs` (with `o.env`'s bindings, within `o.budget`), the operations it made
 * counted at the bindings.
 */
export async function sweepCounted(
  atMs: number,
  o: { env?: Env; budget?: Budget } = {},
): Promise<{ report: SweepReport; counted: number }> {
  setNow(atMs);
  resetUsage();
  const report = await sweep(instrument({ ...(o.env ?? (env as Env)), BENCH_METRICS: "true" }), atMs, o.budget);
  return { report, counted: usage.d1_statements + usage.do_requests + usage.r2_requests };
}
