/**
 * DELETE /v1/async/collections/{id}: 404 at once for every URL of the collection and its runs, runs
 * in progress cancelled in the request, then everything stored for it (request lists of every
 * version, run rows, the runs' objects and their job records, pages and screenshots in R2) deleted
 * by the cron in steps that stay within one invocation's budget and resume after a fault. Operations
 * are counted at the bindings by the bench-mode counters, not by the deletion's own bookkeeping.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { iso, setNow } from "../src/clock";
import * as store from "../src/do/job-store";
import type { RunCoordinator } from "../src/do/run-coordinator";
import { hourOf, runHourPrefix } from "../src/storage/bodies";
import { LATE_WRITES_MS } from "../src/storage/deletion";
import { SWEEP_BUDGET, type SweepReport } from "../src/storage/retention";
import {
  allJobs,
  api,
  createCollection,
  type JobView,
  newTenant,
  type RunSummary,
  startRun,
  target,
  waitForRun,
} from "./support/api";
import { objectHolds, sweepCounted } from "./support/objects";
import { withFault } from "./support/queue";

afterEach(() => setNow(null));

const stubOf = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every R2 key of a tenant's pages and screenshots. */
async function keysOf(tenant: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.BODIES.list({ prefix: "bodies/", cursor });
    keys.push(...page.objects.map((o) => o.key).filter((k) => k.split("/")[2] === tenant));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** What D1 still holds of a collection: its row, its request rows (any version), its run rows. */
async function d1Rows(collectionId: string) {
  const n = async (sql: string) => (await env.DB.prepare(sql).bind(collectionId).first<{ n: number }>())!.n;
  return {
    collection: await n("SELECT count(*) AS n FROM collections WHERE id = ?1"),
    requests: await n("SELECT count(*) AS n FROM requests WHERE collection_id = ?1"),
    versions: await n("SELECT count(DISTINCT version) AS n FROM requests WHERE collection_id = ?1"),
    runs: await n("SELECT count(*) AS n FROM runs WHERE collection_id = ?1"),
  };
}

/** Sweeps at `atMs` until the collection's row is gone; each invocation within SWEEP_BUDGET. */
async function sweepUntilGone(collectionId: string, atMs: number): Promise<SweepReport[]> {
  const reports: SweepReport[] = [];
  for (let i = 0; i < 20 && (await d1Rows(collectionId)).collection > 0; i++) {
    const { report, counted } = await sweepCounted(atMs);
    expect(counted).toBeLessThanOrEqual(SWEEP_BUDGET);
    expect(report.operations).toBe(counted);
    reports.push(report);
  }
  expect((await d1Rows(collectionId)).collection).toBe(0);
  return reports;
}

/** Every URL of a collection and of the given runs, with one job each (that job's screenshot when it has one). */
function urlsOf(collectionId: string, runs: { run_id: string; job: JobView }[]): [string, string, unknown?][] {
  const base = `/v1/async/collections/${collectionId}`;
  return [
    ["GET", base],
    ["PUT", base, { requests: [{ url: target("/ok") }] }],
    ["POST", `${base}/run`],
    ["GET", `${base}/runs`],
    ...runs.flatMap(({ run_id, job }): [string, string][] => [
      ["GET", `${base}/runs/${run_id}`],
      ["GET", `${base}/runs/${run_id}/jobs`],
      ["GET", `${base}/runs/${run_id}/jobs/${job.job_id}`],
      ["GET", `${base}/runs/${run_id}/jobs/${job.job_id}/result`],
      ...(job.screenshot_available
        ? [["GET", `${base}/runs/${run_id}/jobs/${job.job_id}/screenshot`] as [string, string]]
        : []),
      ["GET", `${base}/runs/${run_id}/export`],
      ["POST", `${base}/runs/${run_id}/cancel`],
    ]),
  ];
}

async function statuses(key: string, urls: [string, string, unknown?][]) {
  const out: string[] = [];
  for (const [method, path, json] of urls)
    out.push(`${(await api(path, { method, key, json })).status} ${method} ${path}`);
  return out;
}

describe("DELETE of a collection", () => {
  it("answers 404 everywhere at once, cancels its running run, and the cron then deletes all it stored", {
    timeout: 120_000,
  }, async () => {
    const a = await newTenant();
    const b = await newTenant();
    // Another tenant's collection and finished run, which must come through untouched.
    const bCol = await createCollection(b.key, [{ url: target("/page/8") }]);
    const bRun = await waitForRun(b.key, bCol.id, (await startRun(b.key, bCol.id)).run_id);
    const [bJob] = await allJobs(b.key, bCol.id, bRun.run_id);
    // A finished run, with pages and a screenshot.
    const col = await createCollection(a.key, [
      ...Array.from({ length: 4 }, (_, i) => ({ url: target(`/page/${i}`) })),
      { url: target("/page/4"), browser: true, screenshot: true, custom_id: "shot" },
    ]);
    const base = `/v1/async/collections/${col.id}`;
    const finished = await waitForRun(a.key, col.id, (await startRun(a.key, col.id)).run_id, 60_000);
    const put = (requests: unknown[]) => api(base, { method: "PUT", key: a.key, json: { requests } });
    // A run of a second version, still going (three pages held by the target site until the test
    // releases them) when the collection is deleted, and a third version, so that two versions of the
    // list are stored (the running run pins the second).
    const hold = crypto.randomUUID();
    expect(
      (
        await put([
          { url: target("/page/5") },
          { url: target("/page/6") },
          ...[1, 2, 3].map((i) => ({ url: target(`/held/${hold}?i=${i}`), timeout: 60_000 })),
        ])
      ).status,
    ).toBe(200);
    const running = await startRun(a.key, col.id);
    const twoDone = async () => (await allJobs(a.key, col.id, running.run_id)).filter((j) => j.status === "completed");
    for (let i = 0; i < 100 && (await twoDone()).length < 2; i++) await sleep(100);
    expect((await put([{ url: target("/page/7") }])).status).toBe(200);

    const finishedJobs = await allJobs(a.key, col.id, finished.run_id);
    const runs = [
      { run_id: finished.run_id, job: finishedJobs.find((j) => j.custom_id === "shot")! },
      { run_id: running.run_id, job: (await twoDone())[0] },
    ];
    const urls = urlsOf(col.id, runs);
    const reads = urls.filter(([m]) => m === "GET");
    expect((await statuses(a.key, reads)).filter((s) => !s.startsWith("200"))).toEqual([]);
    const before = await keysOf(a.tenant);
    for (const { run_id } of runs) expect(before.some((k) => k.includes(`/${run_id}/`))).toBe(true);
    expect(before.some((k) => k.endsWith(".png"))).toBe(true);
    expect(await d1Rows(col.id)).toMatchObject({ collection: 1, versions: 2, runs: 2 });
    expect(await (await api(`${base}/runs/${running.run_id}`, { key: a.key })).json()).toMatchObject({
      status: "in_progress",
    });

    // Another tenant's DELETE: 404, and nothing changes.
    expect((await api(base, { method: "DELETE", key: b.key })).status).toBe(404);
    expect((await statuses(a.key, reads)).filter((s) => !s.startsWith("200"))).toEqual([]);

    const res = await api(base, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    // From the 204 on: 404 everywhere (a second DELETE too), before any clean-up ran.
    const all: [string, string, unknown?][] = [...urls, ["DELETE", base]];
    expect((await statuses(a.key, all)).filter((s) => !s.startsWith("404"))).toEqual([]);
    const listed = (await (await api("/v1/async/collections", { key: a.key })).json()) as { total: number };
    expect(listed.total).toBe(0);
    // The running run was cancelled in the request: its row is no longer in progress.
    const row = await env.DB.prepare("SELECT status FROM runs WHERE id = ?1").bind(running.run_id).first();
    expect(row).toEqual({ status: "cancelled" });

    // A sweep now deletes nothing yet: both runs ended less than LATE_WRITES_MS ago, and pages of the
    // cancelled run's held jobs, still in a consumer, are stored after the cancel.
    const t0 = Date.now();
    await sweepCounted(t0);
    expect(await d1Rows(col.id)).toMatchObject({ collection: 1, runs: 2 });
    const late = async () =>
      (await keysOf(a.tenant)).filter((k) => k.includes(`/${running.run_id}/`) && !before.includes(k));
    // The held pages answer now, after the cancel: fetches that were in flight all along.
    const release = await fetch(target(`/release/${hold}`), { method: "POST" });
    expect(((await release.json()) as { released: number }).released).toBeGreaterThan(0);
    for (let i = 0; i < 200 && (await late()).length === 0; i++) await sleep(200);
    expect((await late()).length).toBeGreaterThan(0);

    const reports = await sweepUntilGone(col.id, t0 + LATE_WRITES_MS + 60_000);
    expect(reports.reduce((n, r) => n + r.deleted_runs_deleted, 0)).toBe(2);
    expect(await d1Rows(col.id)).toEqual({ collection: 0, requests: 0, versions: 0, runs: 0 });
    expect(await keysOf(a.tenant)).toEqual([]);
    for (const { run_id } of runs) expect(await objectHolds(run_id)).toBe(false);
    // Still 404, and reading brought no object back.
    setNow(null);
    expect((await statuses(a.key, all)).filter((s) => !s.startsWith("404"))).toEqual([]);
    for (const { run_id } of runs) expect(await objectHolds(run_id)).toBe(false);
    // The other tenant's data is all there.
    const bResult = `/v1/async/collections/${bCol.id}/runs/${bRun.run_id}/jobs/${bJob.job_id}/result`;
    expect((await api(bResult, { key: b.key })).status).toBe(200);
    expect((await keysOf(b.tenant)).length).toBe(1);
    // The tenant's usage outlives what it was used for.
    const u = (await (await api("/v1/usage", { key: a.key })).json()) as { days: { jobs: { success: number } }[] };
    expect(u.days.reduce((n, d) => n + d.jobs.success, 0)).toBeGreaterThanOrEqual(7);
  });

  it("resumes a deletion cut short at a binding, from the step it stopped at", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 3 }, (_, i) => ({ url: target(`/page/${10 + i}`) })),
    );
    const run: RunSummary = await waitForRun(key, col.id, (await startRun(key, col.id)).run_id);
    expect((await keysOf(tenant)).length).toBeGreaterThan(0);
    expect((await api(`/v1/async/collections/${col.id}`, { method: "DELETE", key })).status).toBe(204);
    const at = Date.now() + LATE_WRITES_MS + 60_000;

    // R2 refuses deletes: the run's object is purged, its bodies and row stay for the next invocation.
    const r2Down = withFault("BODIES", { delete: async () => Promise.reject(new Error("injected R2 failure")) });
    await sweepCounted(at, { env: r2Down });
    expect(await objectHolds(run.run_id)).toBe(false);
    expect((await keysOf(tenant)).length).toBeGreaterThan(0);
    expect(await d1Rows(col.id)).toMatchObject({ collection: 1, runs: 1, requests: 3 });

    // D1 refuses the run rows' delete after the bodies went: the invocation fails there.
    const rowsDown = withFault("DB", {
      prepare: (sql: string) =>
        sql.startsWith("DELETE FROM runs")
          ? { bind: () => ({ run: () => Promise.reject(new Error("injected D1 failure")) }) }
          : env.DB.prepare(sql),
    });
    await expect(sweepCounted(at, { env: rowsDown })).rejects.toThrow("injected D1 failure");
    expect(await keysOf(tenant)).toEqual([]);
    expect(await d1Rows(col.id)).toMatchObject({ collection: 1, runs: 1, requests: 3 });

    // The next invocation finishes: the row, the request list, the collection.
    await sweepUntilGone(col.id, at);
    expect(await d1Rows(col.id)).toEqual({ collection: 0, requests: 0, versions: 0, runs: 0 });
    expect(await objectHolds(run.run_id)).toBe(false);
  });

  it("never starts a quiet run of a deleted collection from its row, and deletes it at once", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    // A run row whose object never started (the Worker died between the two), quiet for 30 minutes:
    // the backstop's kind of run.
    const runId = crypto.randomUUID();
    const t = Date.now();
    await env.DB.prepare(
      `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, requests_version, synced_at)
       VALUES (?1, ?2, ?3, 'in_progress', 1, ?4, 1, ?4)`,
    )
      .bind(runId, tenant, col.id, iso(t - 30 * 60_000))
      .run();
    expect((await api(`/v1/async/collections/${col.id}`, { method: "DELETE", key })).status).toBe(204);
    const { report } = await sweepCounted(t);
    expect(report.quiet_runs_resumed).toBe(0);
    // Nothing was released, so nothing is waited for: gone in the same invocation.
    expect(report.collections_deleted).toBe(1);
    expect(await d1Rows(col.id)).toEqual({ collection: 0, requests: 0, versions: 0, runs: 0 });
    expect(await objectHolds(runId)).toBe(false);
  });

  it("replays the 204 to a retry with the same Idempotency-Key; without one a second DELETE is 404", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const del = (headers?: HeadersInit) => api(`/v1/async/collections/${col.id}`, { method: "DELETE", key, headers });
    const first = await del({ "idempotency-key": "del-1" });
    expect(first.status).toBe(204);
    const again = await del({ "idempotency-key": "del-1" });
    expect(again.status).toBe(204);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await del()).status).toBe(404);
    expect((await del({ "idempotency-key": "del-2" })).status).toBe(404);
  });

  it("deletes a 100,000-job run within every invocation's limits (measured)", { timeout: 180_000 }, async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const N = 100_000;
    const PACK = 25;
    // The cheap path to a run of 100,000 jobs: its rows written in SQL as its object and D1 leave
    // them (every job completed, its page in a pack of 25 as a fetch consumer flushes them), its
    // request list as the pinned second version of 100,000 rows, and its 4,000 packs in R2.
    const runId = crypto.randomUUID();
    const completedMs = Date.now() - 10 * 60_000;
    const createdMs = completedMs - 30 * 60_000;
    // Keys of the pack scheme (one hour's prefix of the run), numbered so SQL can name each job's pack.
    const prefix = runHourPrefix(hourOf(createdMs), tenant, runId);
    const packs = Array.from({ length: N / PACK }, (_, i) => `${prefix}${i}.pack`);
    await env.DB.prepare(
      `INSERT INTO requests (collection_id, version, seq, url, custom_id, browser, spec)
       WITH RECURSIVE pos(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM pos WHERE i + 1 < ?2)
       SELECT ?1, 2, i, ?3 || i, NULL, 0, '{"timeout":30000}' FROM pos`,
    )
      .bind(col.id, N, target("/page/"))
      .run();
    await env.DB.prepare(
      `INSERT INTO runs (id, tenant, collection_id, status, total_requests, success_requests, created_at, completed_at,
         requests_version, synced_at) VALUES (?1, ?2, ?3, 'completed', ?4, ?4, ?5, ?6, 2, ?6)`,
    )
      .bind(runId, tenant, col.id, N, iso(createdMs), iso(completedMs))
      .run();
    await runInDurableObject(stubOf(runId), (_: RunCoordinator, state: DurableObjectState) => {
      const sql = state.storage.sql;
      store.migrate(sql);
      const meta = {
        run_id: runId,
        tenant,
        collection_id: col.id,
        job_prefix: runId.slice(0, 24),
        requests_version: 2,
        total: N,
        browser_total: 0,
        created_ms: createdMs,
      };
      store.insertRun(sql, meta, 1);
      sql.exec(
        `WITH RECURSIVE pos(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM pos WHERE i + 1 < ?)
         INSERT INTO jobs (seq, url, custom_id, browser, spec, timeout_ms, status, completed_ms, body_key, body_offset,
           body_length)
         SELECT i, ? || i, NULL, 0, '{"timeout":30000}', 30000, 'completed', ?, ? || (i / ${PACK}) || '.pack',
           (i % ${PACK}) * 100, 100 FROM pos`,
        N,
        target("/page/"),
        completedMs,
        prefix,
      );
      sql.exec(
        "UPDATE run SET status = 'completed', success = total, completed_ms = ?, created_jobs = total, d1_dirty = 0",
        completedMs,
      );
    });
    const body = new Uint8Array(PACK * 100);
    for (let i = 0; i < packs.length; i += 50)
      await Promise.all(packs.slice(i, i + 50).map((k) => env.BODIES.put(k, body)));
    expect((await keysOf(tenant)).length).toBe(N / PACK);
    const jobs = await (await api(`/v1/async/collections/${col.id}/runs/${runId}/jobs?limit=1`, { key })).json();
    expect(jobs).toMatchObject({ items: [{ status: "completed", result_available: true }], has_more: true });

    const t0 = performance.now();
    expect((await api(`/v1/async/collections/${col.id}`, { method: "DELETE", key })).status).toBe(204);
    const requestMs = performance.now() - t0;
    const t1 = performance.now();
    const reports = await sweepUntilGone(col.id, Date.now());
    const sweepMs = performance.now() - t1;
    expect(await d1Rows(col.id)).toEqual({ collection: 0, requests: 0, versions: 0, runs: 0 });
    expect(await keysOf(tenant)).toEqual([]);
    expect(await objectHolds(runId)).toBe(false);
    console.log(
      "deleting a 100,000-job run (4,000 packs, a 100,000-request list): " +
        `DELETE answered in ${Math.round(requestMs)} ms;` +
        ` the cron deleted everything in ${reports.length} invocation(s), ${Math.round(sweepMs)} ms in all` +
        ` (operations per invocation: ${reports.map((r) => r.operations).join(", ")})`,
    );
  });
});
