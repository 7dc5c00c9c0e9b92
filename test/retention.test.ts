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
import * as store from "../src/do/job-store";
import type { RunCoordinator } from "../src/do/run-coordinator";
import { packKey } from "../src/storage/bodies";
import { Budget } from "../src/storage/budget";
import { SWEEP_BUDGET, type SweepReport } from "../src/storage/retention";
import { allJobs, api, createCollection, newTenant, startRun, target, waitForRun } from "./support/api";
import { objectHolds, sweepCounted } from "./support/objects";

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

/** Job rows held by the runs' objects (a run whose object holds nothing has none). */
const jobRows = async (ids: string[]) =>
  (
    await inGroups(ids, 10, (id) =>
      runInDurableObject(stubOf(id), (_: RunCoordinator, state: DurableObjectState) => {
        const t = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'jobs'").toArray();
        return t.length ? state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs").one().n : 0;
      }),
    )
  ).reduce((a, b) => a + b, 0);

/**
 * Runs of the collection with `sizes[i]` jobs each, completed at `atMs` with every job timed out:
 * the D1 row as the run's object leaves it, and with `objects` the object's own store (its run row
 * and job rows, written in SQL as the object writes them). Without, the runs have D1 rows only:
 * hundreds of runs stay fast where only their rows and the sweep's calls per run matter.
 */
async function completedRuns(
  tenant: string,
  collectionId: string,
  sizes: number[],
  atMs: number,
  objects = true,
): Promise<string[]> {
  const runs = sizes.map((jobs) => ({ id: crypto.randomUUID(), jobs }));
  const createdMs = atMs - 10 * 60_000;
  await env.DB.prepare(
    `INSERT INTO runs (id, tenant, collection_id, status, total_requests, timeout_requests, created_at, completed_at,
       requests_version, synced_at)
     SELECT json_extract(value, '$.id'), ?2, ?3, 'completed', json_extract(value, '$.jobs'), json_extract(value, '$.jobs'),
       ?4, ?5, 1, ?5
     FROM json_each(?1)`,
  )
    .bind(JSON.stringify(runs), tenant, collectionId, iso(createdMs), iso(atMs))
    .run();
  if (objects) {
    await inGroups(runs, 8, (r) =>
      runInDurableObject(stubOf(r.id), (_: RunCoordinator, state: DurableObjectState) => {
        const sql = state.storage.sql;
        store.migrate(sql);
        const meta = {
          run_id: r.id,
          tenant,
          collection_id: collectionId,
          job_prefix: r.id.slice(0, 24),
          requests_version: 1,
          total: r.jobs,
          browser_total: 0,
          created_ms: createdMs,
        };
        store.insertRun(sql, meta, 1);
        sql.exec(
          `WITH RECURSIVE pos(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM pos WHERE i + 1 < ?)
           INSERT INTO jobs (seq, url, custom_id, browser, spec, timeout_ms, status, error, completed_ms)
           SELECT i, ?, NULL, 0, '{}', 30000, 'timeout', 'the job did not finish within its lease', ? FROM pos`,
          r.jobs,
          target("/ok"),
          atMs,
        );
        sql.exec(
          "UPDATE run SET status = 'completed', timeout = total, completed_ms = ?, created_jobs = total, d1_dirty = 0",
          atMs,
        );
      }),
    );
  }
  return runs.map((r) => r.id);
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

    // 299 more completed a day earlier, of 2 jobs but one of 100,000; 21 with their Durable Object.
    const withObjects = await completedRuns(
      tenant,
      col.id,
      [100_000, ...Array<number>(20).fill(2)],
      realCompleted - DAY,
    );
    const rowsOnly = await completedRuns(tenant, col.id, Array<number>(278).fill(2), realCompleted - DAY, false);
    const [big, small] = withObjects;
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
    expect(await jobRows(objectBacked)).toBe(100_000 + 20 * 2 + 1);

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
    expect(reports.reduce((n, r) => n + r.runs_deleted, 0)).toBe(300);
    expect([await runRows(expired), await jobRows(objectBacked)]).toEqual([0, 0]);
    const left = await env.BODIES.list({ prefix: "bodies/" });
    expect(left.objects.map((o) => o.key)).toEqual([keptKey]);

    // Reads after the sweep still 404 and bring no object back; the young run keeps everything.
    expect((await inGroups(reads, 10, statusOf)).filter(([, s]) => s !== 404)).toEqual([]);
    expect(await inGroups(objectBacked, 10, objectHolds)).toEqual(objectBacked.map(() => false));
    expect([await runRows([young]), await jobRows([young]), await objectHolds(young)]).toEqual([1, 2, true]);
    expect((await api(`${base}/runs/${young}`, { key })).status).toBe(200);
  });

  it("spreads deletions over invocations when the budget is small, each object before its row", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const completed = Date.now() - 100 * DAY;
    const ids = await completedRuns(tenant, col.id, [20_000, 3, 3, 3, 3], completed);
    const at = completed + 90 * DAY + 60_000;
    const seen: { rows: number; objects: boolean[]; rowOf: boolean[] }[] = [];
    for (let i = 0; i < 30 && (seen.at(-1)?.rows ?? 1) > 0; i++) {
      // Seven operations: the backstop's query, the bodies' listing, the deleted collections' query,
      // a page query, two objects and the operation kept for the rows of the runs whose objects are gone.
      const { counted } = await sweepCounted(at, { budget: new Budget(7) });
      expect(counted).toBeLessThanOrEqual(7);
      const rowOf = await inGroups(ids, 5, async (id) => (await runRows([id])) === 1);
      seen.push({ rows: rowOf.filter(Boolean).length, objects: await inGroups(ids, 5, objectHolds), rowOf });
    }
    expect(seen.at(-1)?.rows).toBe(0);
    expect(seen.at(-1)?.objects.every((held) => !held)).toBe(true);
    // Spread over several invocations, and never a row gone while its object still holds data.
    expect(seen.length).toBeGreaterThan(2);
    for (const s of seen) s.rowOf.forEach((row, i) => row || expect(s.objects[i]).toBe(false));
    expect((await api(`/v1/async/collections/${col.id}/runs/${ids[0]}`, { key })).status).toBe(404);
  });
});
