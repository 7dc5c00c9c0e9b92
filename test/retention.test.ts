/**
 * Metadata retention at scale. An expired run is gone for every read the moment its 90 days end,
 * whatever the sweep's backlog; the sweep then reclaims expired runs (and expired bodies) in
 * invocations that each stay within SWEEP_BUDGET operations. Operations are counted by the
 * bench-mode counters around the bindings, not by the sweep's own bookkeeping.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { iso, setNow } from "../src/clock";
import type { RunCoordinator } from "../src/do/run-coordinator";
import { instrument, resetUsage, usage } from "../src/metrics";
import { packKey } from "../src/storage/bodies";
import { Budget } from "../src/storage/budget";
import { SWEEP_BUDGET, sweep, type SweepReport } from "../src/storage/retention";
import { allJobs, api, createCollection, newTenant, startRun, target, waitForRun } from "./support/api";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

afterEach(() => setNow(null));

const stubOf = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

/** Up to `n` at a time, so hundreds of calls neither run one by one nor all at once. */
async function inGroups<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}

const countIn = async (sql: string, ids: string[]) =>
  (await env.DB.prepare(sql).bind(JSON.stringify(ids)).first<{ n: number }>())!.n;
const runRows = (ids: string[]) =>
  countIn("SELECT count(*) AS n FROM runs WHERE id IN (SELECT value FROM json_each(?1))", ids);
const jobRows = (ids: string[]) =>
  countIn("SELECT count(*) AS n FROM jobs WHERE run_id IN (SELECT value FROM json_each(?1))", ids);

/**
 * Runs of the collection with `sizes[i]` jobs each, written as POST /run writes them (a run row;
 * per job the request's url and spec, job_id = the run's prefix + its position in hex), with a
 * deadline that passed by `atMs`, and completed at `atMs` with every job timed out. With `objects`,
 * each run's Durable Object starts and meets its deadline as the backstop drives it (expire =
 * start + the deadline alarm), and writes the jobs' and the run's final state itself. Without, the
 * rows are written in that final state and the runs have no object storage: hundreds of runs stay
 * fast where only their D1 rows and the sweep's calls per run matter.
 */
async function completedRuns(
  tenant: string,
  collectionId: string,
  sizes: number[],
  atMs: number,
  objects = true,
): Promise<string[]> {
  const runs = sizes.map((jobs) => ({ id: crypto.randomUUID(), prefix: crypto.randomUUID().slice(0, 24), jobs }));
  const created = iso(atMs - 10 * 60_000);
  const deadline = atMs - 1000;
  const done = objects ? null : iso(atMs);
  await env.DB.prepare(
    `INSERT INTO runs
       (id, tenant, collection_id, status, total_requests, timeout_requests, created_at, deadline_at, completed_at)
     SELECT json_extract(value, '$.id'), ?2, ?3, ?6, json_extract(value, '$.jobs'),
            IIF(?7 IS NULL, 0, json_extract(value, '$.jobs')), ?4, ?5, ?7
     FROM json_each(?1)`,
  )
    .bind(JSON.stringify(runs), tenant, collectionId, created, iso(deadline), done ? "completed" : "in_progress", done)
    .run();
  // One statement per run size, so the sequence of positions is built once for runs of that size.
  for (const size of new Set(sizes)) {
    await env.DB.prepare(
      `WITH RECURSIVE pos(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM pos WHERE i + 1 < ?2)
       INSERT INTO jobs (job_id, run_id, tenant, collection_id, seq, url, custom_id, browser, spec, created_at,
                         status, error, completed_at)
       SELECT json_extract(r.value, '$.prefix') || printf('%012x', pos.i), json_extract(r.value, '$.id'), ?3, ?4, pos.i,
              q.url, q.custom_id, q.browser, q.spec, ?5, IIF(?6 IS NULL, 'pending', 'timeout'),
              IIF(?6 IS NULL, NULL, 'the run reached its deadline before this job finished'), ?6
       FROM json_each(?1) AS r, pos, requests AS q WHERE q.collection_id = ?4 AND q.seq = 0`,
    )
      .bind(JSON.stringify(runs.filter((r) => r.jobs === size)), size, tenant, collectionId, created, done)
      .run();
  }
  const ids = runs.map((r) => r.id);
  setNow(atMs);
  if (objects) {
    await inGroups(runs, 8, (r) =>
      stubOf(r.id).expire({
        run_id: r.id, tenant, collection_id: collectionId, total: r.jobs,
        created_at_ms: Date.parse(created), deadline_ms: deadline,
      }),
    );
  }
  const completed = await countIn(
    `SELECT count(*) AS n FROM runs WHERE id IN (SELECT value FROM json_each(?1))
       AND status = 'completed' AND completed_at IS NOT NULL`,
    ids,
  );
  expect(completed).toBe(ids.length);
  return ids;
}

/** Whether the run's Durable Object still holds anything: its tables or an alarm. */
const objectHolds = (runId: string) =>
  runInDurableObject(stubOf(runId), async (_: RunCoordinator, state: DurableObjectState) => {
    const tables = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('run', 'finished')").toArray();
    return tables.length > 0 || (await state.storage.getAlarm()) !== null;
  });

/** One cron invocation at `atMs`, with the operations it made counted at the bindings. */
async function sweepCounted(atMs: number, budget?: Budget): Promise<{ report: SweepReport; counted: number }> {
  setNow(atMs);
  resetUsage();
  const report = await sweep(instrument({ ...env, BENCH_METRICS: "true" }), atMs, budget);
  return { report, counted: usage.d1_statements + usage.do_requests + usage.r2_requests };
}

describe("metadata retention", () => {
  it("300 expired runs, one of 100,000 jobs, answer 404 at once; sweeps reclaim them within budget", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok"), custom_id: "home" }]);
    const base = `/v1/async/collections/${col.id}`;

    // One real run, through the API and the queue, with its page in R2.
    const real = await waitForRun(key, col.id, (await startRun(key, col.id)).run_id);
    const [realJob] = await allJobs(key, col.id, real.run_id);
    const realCompleted = Date.parse(real.completed_at!);

    // 299 more completed a day earlier, of 2 jobs but one of 100,000; 20 with their Durable Object.
    const withObjects = await completedRuns(tenant, col.id, Array<number>(20).fill(2), realCompleted - DAY);
    const rowsOnly = await completedRuns(
      tenant, col.id, [100_000, ...Array<number>(278).fill(2)], realCompleted - DAY, false,
    );
    const [small, big] = [withObjects[0], rowsOnly[0]];
    const objectBacked = [real.run_id, ...withObjects];
    const expired = [...objectBacked, ...rowsOnly];
    const firstJob = async (runId: string) => {
      const page = await (await api(`${base}/runs/${runId}/jobs?limit=1`, { key })).json();
      return (page as { items: { job_id: string }[] }).items[0].job_id;
    };
    const [bigJob, smallJob] = [await firstJob(big), await firstJob(small)];

    // 90 days after the last of them completed, plus a minute; and a run that completed a day before then.
    const at = realCompleted + 90 * DAY + 60_000;
    const [young] = await completedRuns(tenant, col.id, [2], at - DAY);

    // A backlog of bodies: one object in each of 120 expired hours, and one in an hour still kept.
    const keptKey = packKey(at - HOUR, tenant, young);
    const backlog = Array.from({ length: 120 }, (_, i) => packKey(realCompleted - DAY - i * HOUR, tenant, expired[i]));
    await inGroups([...backlog, keptKey], 25, (k) => env.BODIES.put(k, "<html></html>"));

    // Before: every run is there for every read (a run without an object has no live status).
    setNow(realCompleted + 60_000);
    type Listing = { total: number; items: { run_id: string }[] };
    const listed = async () => (await (await api(`${base}/runs?limit=100`, { key })).json()) as Listing;
    expect((await listed()).total).toBe(301);
    const jobReads = (runId: string, jobId: string) => [
      `${base}/runs/${runId}/jobs`,
      `${base}/runs/${runId}/jobs/${jobId}`,
      `${base}/runs/${runId}/jobs/${jobId}/result`,
    ];
    const reads = [
      ...objectBacked.map((id) => `${base}/runs/${id}`),
      ...jobReads(real.run_id, realJob.job_id),
      ...jobReads(small, smallJob),
      ...jobReads(big, bigJob),
    ];
    const statusOf = async (path: string) => [path, (await api(path, { key })).status];
    expect((await inGroups(reads, 10, statusOf)).filter(([, s]) => s !== 200)).toEqual([]);
    expect(await inGroups(objectBacked, 10, objectHolds)).toEqual(objectBacked.map(() => true));
    expect(await jobRows(expired)).toBe(100_000 + 298 * 2 + 1);

    // After: 404 everywhere at once, before any sweep; the young run is untouched.
    setNow(at);
    expect((await inGroups(reads, 10, statusOf)).filter(([, s]) => s !== 404)).toEqual([]);
    expect((await api(`${base}/runs/${small}/cancel`, { method: "POST", key })).status).toBe(404);
    expect(await listed()).toMatchObject({ total: 1, items: [{ run_id: young }] });
    const completedOnly = await (await api(`${base}/runs?status_filter=completed`, { key })).json();
    expect(completedOnly).toMatchObject({ total: 1, items: [{ run_id: young }] });
    expect((await api(`${base}/runs/${young}`, { key })).status).toBe(200);
    expect(await runRows(expired)).toBe(300);

    // The sweep, invocation after invocation: each within the budget, until nothing is left.
    const reports: SweepReport[] = [];
    for (let i = 0; i < 20 && !reports.at(-1)?.complete; i++) {
      const { report, counted } = await sweepCounted(at);
      expect(counted).toBeLessThanOrEqual(SWEEP_BUDGET);
      expect(report.operations).toBe(counted);
      reports.push(report);
    }
    expect(reports.at(-1)?.complete).toBe(true);
    expect(reports.length).toBeGreaterThan(1);
    const sum = (k: "runs_deleted" | "jobs_deleted") => reports.reduce((n, r) => n + r[k], 0);
    expect([sum("runs_deleted"), sum("jobs_deleted")]).toEqual([300, 100_000 + 298 * 2 + 1]);
    expect([await runRows(expired), await jobRows(expired)]).toEqual([0, 0]);
    const left = await env.BODIES.list({ prefix: "bodies/" });
    expect(left.objects.map((o) => o.key)).toEqual([keptKey]);

    // Reads after the sweep still 404 and bring no object back; the young run keeps everything.
    expect((await inGroups(reads, 10, statusOf)).filter(([, s]) => s !== 404)).toEqual([]);
    expect(await inGroups(objectBacked, 10, objectHolds)).toEqual(objectBacked.map(() => false));
    expect([await runRows([young]), await jobRows([young]), await objectHolds(young)]).toEqual([1, 2, true]);
    expect((await api(`${base}/runs/${young}`, { key })).status).toBe(200);
  });

  it("continues a run's deletion where the budget cut it, and deletes its row only after its object", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const completed = Date.now() - 100 * DAY;
    const [runId] = await completedRuns(tenant, col.id, [20_000], completed);
    const at = completed + 90 * DAY + 60_000;
    const seen: { jobs: number; object: boolean; row: number }[] = [];
    for (let i = 0; i < 30 && (seen.at(-1)?.row ?? 1) > 0; i++) {
      // Six operations: after the backstop's query and the bodies' listing, a page query, two
      // deletes of 5,000 jobs and the operation kept for the rows of finished runs.
      const { counted } = await sweepCounted(at, new Budget(6));
      expect(counted).toBeLessThanOrEqual(6);
      seen.push({ jobs: await jobRows([runId]), object: await objectHolds(runId), row: await runRows([runId]) });
    }
    expect(seen.at(-1)).toEqual({ jobs: 0, object: false, row: 0 });
    // Cut part-way at least once, and resumed from there: jobs only ever decrease.
    expect(seen.some((s) => s.jobs > 0 && s.jobs < 20_000)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i].jobs).toBeLessThanOrEqual(seen[i - 1].jobs);
    // Jobs, then the object, then the row: none is gone while one deleted before it is still there.
    for (const s of seen) {
      if (!s.object) expect(s.jobs).toBe(0);
      if (s.row === 0) expect(s.object).toBe(false);
    }
    expect((await api(`/v1/async/collections/${col.id}/runs/${runId}`, { key })).status).toBe(404);
  });
});
