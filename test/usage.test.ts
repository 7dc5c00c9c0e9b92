/**
 * GET /v1/usage: counters the service keeps as runs progress (from the run objects' D1 syncs),
 * which must agree with the runs' own counters and with what was stored, and count each job once
 * however often a sync is repeated or its answer lost.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getRun as runRow } from "../src/db/runs";
import { type RunCoordinator, startOf } from "../src/do/run-coordinator";
import { type Outcome, pageOutcome, pagelessOutcome } from "../src/domain";
import {
  allJobs,
  api,
  createCollection,
  getRun,
  type JobView,
  newTenant,
  type RunSummary,
  startRun,
  target,
  until,
  waitForRun,
} from "./support/api";
import { pendingRun, withObjectEnv } from "./support/queue";

type UsageDay = {
  date: string;
  jobs: { success: number; failed: number; timeout: number };
  fetch_jobs: number;
  browser_jobs: number;
  browser_seconds: number;
  bytes_stored: number;
};
type Usage = { days: UsageDay[]; in_flight: { jobs: number; cap: number }; rate_limit: unknown };

const DAY = 24 * 3600_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const stub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

async function usageOf(key: string, query = `from=${dayOf(Date.now() - DAY)}&to=${dayOf(Date.now())}`) {
  const res = await api(`/v1/usage?${query}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as Usage;
}

/** The days of the response summed (a test running across midnight UTC spans two). */
function total(u: Usage) {
  const sum = { success: 0, failed: 0, timeout: 0, fetch_jobs: 0, browser_jobs: 0, browser_ms: 0, bytes_stored: 0 };
  for (const d of u.days) {
    sum.success += d.jobs.success;
    sum.failed += d.jobs.failed;
    sum.timeout += d.jobs.timeout;
    sum.fetch_jobs += d.fetch_jobs;
    sum.browser_jobs += d.browser_jobs;
    sum.browser_ms += Math.round(d.browser_seconds * 1000);
    sum.bytes_stored += d.bytes_stored;
  }
  return sum;
}

/** Bytes a job stored: its page as served raw, and its screenshot. */
async function storedBytes(key: string, base: string, j: JobView): Promise<number> {
  let n = 0;
  if (j.result_available) {
    const res = await api(`${base}/jobs/${j.job_id}/result?format=html`, { key });
    expect(res.status).toBe(200);
    n += (await res.arrayBuffer()).byteLength;
  }
  if (j.screenshot_available) {
    const res = await api(`${base}/jobs/${j.job_id}/screenshot`, { key });
    expect(res.status).toBe(200);
    n += (await res.arrayBuffer()).byteLength;
  }
  return n;
}

describe("GET /v1/usage", () => {
  it("equals the sum of the runs' counters over fetch, browser and cancelled runs, and what they stored", async () => {
    const { key } = await newTenant();
    const fetchCol = await createCollection(key, [
      ...Array.from({ length: 6 }, (_, i) => ({ url: target(`/page/${i}`) })),
      { url: target("/status/404") },
      { url: target("/empty") },
      { url: target("/slow/5000"), timeout: 1_000 },
    ]);
    const browserCol = await createCollection(key, [
      { url: target("/page/100"), browser: true, screenshot: true },
      { url: target("/page/101"), browser: true },
    ]);
    const slowCol = await createCollection(
      key,
      Array.from({ length: 20 }, (_, i) => ({ url: target(`/slow/${1500 + i}`) })),
    );
    const runs: { col: string; run: RunSummary }[] = [];
    for (const col of [fetchCol.id, fetchCol.id, browserCol.id]) runs.push({ col, run: await startRun(key, col) });
    const slow = await startRun(key, slowCol.id);
    // The cancelled run's jobs count in flight until it is cancelled.
    expect((await usageOf(key)).in_flight.jobs).toBeGreaterThanOrEqual(20);
    const cancel = await api(`/v1/async/collections/${slowCol.id}/runs/${slow.run_id}/cancel`, {
      method: "POST",
      key,
    });
    expect(cancel.status).toBe(200);
    runs.push({ col: slowCol.id, run: slow });
    for (const r of runs) r.run = await waitForRun(key, r.col, r.run.run_id, 60_000);
    // Pages of the cancelled run still in a consumer finish now; their outcomes must count nowhere.
    await new Promise((r) => setTimeout(r, 2_500));

    const expected = { success: 0, failed: 0, timeout: 0, fetch_jobs: 0, browser_jobs: 0, browser_ms: 0, bytes: 0 };
    for (const { col, run } of runs) {
      const final = await getRun(key, col, run.run_id);
      expected.success += final.success_requests;
      expected.failed += final.failed_requests;
      expected.timeout += final.timeout_requests;
      const base = `/v1/async/collections/${col}/runs/${run.run_id}`;
      for (const j of await allJobs(key, col, run.run_id)) {
        if (j.error === "cancelled") continue;
        if (j.browser) {
          expected.browser_jobs++;
          expected.browser_ms += (j.timings.fetch_ms ?? 0) + (j.timings.render_ms ?? 0);
        } else expected.fetch_jobs++;
        expected.bytes += await storedBytes(key, base, j);
      }
    }
    expect(expected.success + expected.failed + expected.timeout).toBe(9 + 9 + 2 + 20);
    expect(expected).toMatchObject({ timeout: 2, browser_jobs: 2 });
    expect(expected.fetch_jobs).toBeGreaterThanOrEqual(18);
    expect(expected.bytes).toBeGreaterThan(0);

    const u = await until(
      "usage of all 40 jobs",
      () => usageOf(key),
      (x) => total(x).success + total(x).failed + total(x).timeout === 40,
    );
    expect(total(u)).toEqual({
      success: expected.success,
      failed: expected.failed,
      timeout: expected.timeout,
      fetch_jobs: expected.fetch_jobs,
      browser_jobs: expected.browser_jobs,
      browser_ms: expected.browser_ms,
      bytes_stored: expected.bytes,
    });
    expect(u.in_flight).toEqual({ jobs: 0, cap: 200_000 });
    expect(u.rate_limit).toEqual({ limit: 1000, period_s: 10 });
    // Another tenant's usage is its own.
    const other = await newTenant();
    expect(total(await usageOf(other.key))).toMatchObject({ success: 0, failed: 0, fetch_jobs: 0, bytes_stored: 0 });
  });

  it("counts a sync once when it commits and its answer is lost, and when it is repeated", async () => {
    const { key, tenant } = await newTenant();
    const run = await pendingRun(key, tenant, ["/page/1", "/page/2", "/status/404"]);
    const page = (jobId: string, status: "completed" | "failed", bytes: number): Outcome => ({
      ...pageOutcome(
        jobId,
        1,
        {
          status,
          status_code: status === "completed" ? 200 : 404,
          final_url: null,
          blocked_reason: null,
          error: null,
          fetch_ms: 40,
          render_ms: null,
        },
        { queue_wait_ms: 1, screenshot_key: null, result_meta: null },
      ),
      body_key: "bodies/x",
      body_offset: 0,
      body_length: bytes,
    });
    const [a, b, c] = run.messages.map((m) => m.job_id);
    // The batch commits in D1, then the call fails as if its answer were lost on the way back.
    const answerLost = (real: Env) => ({
      DB: new Proxy(real.DB, {
        get(t, prop) {
          if (prop === "batch") {
            return async (stmts: D1PreparedStatement[]) => {
              await t.batch(stmts);
              throw new Error("injected: the batch committed, its answer was lost");
            };
          }
          const v = Reflect.get(t, prop);
          return typeof v === "function" ? v.bind(t) : v;
        },
      }),
    });
    await runInDurableObject(stub(run.run_id), (instance: RunCoordinator, state) => {
      // The row's last sync was over a minute ago, so this record() syncs (a new run's row is fresh).
      state.storage.sql.exec("UPDATE run SET synced_ms = 0 WHERE id = 1");
      return withObjectEnv(instance, answerLost, () =>
        instance.record({ outcomes: [page(a, "completed", 1_000), page(b, "completed", 500)] }),
      );
    });
    const once = {
      success: 2,
      failed: 0,
      timeout: 0,
      fetch_jobs: 2,
      browser_jobs: 0,
      browser_ms: 0,
      bytes_stored: 1500,
    };
    expect(total(await usageOf(key))).toEqual(once);
    // The object still holds the row as unwritten: its alarm writes the same values again.
    expect(await runInDurableObject(stub(run.run_id), (i: RunCoordinator) => i.snapshot(tenant))).toMatchObject({
      d1_dirty: 1,
    });
    await runDurableObjectAlarm(stub(run.run_id));
    expect(total(await usageOf(key))).toEqual(once);
    // The backstop's resume writes the row whatever its state: again nothing more.
    const row = (await runRow(env.DB, tenant, run.collection_id, run.run_id))!;
    await stub(run.run_id).resume(startOf(row, { browser_total: 0, tenant_runs: 1 }));
    expect(total(await usageOf(key))).toEqual(once);
    // A duplicate of a counted outcome adds nothing; the last job adds itself, once.
    await stub(run.run_id).record({ outcomes: [page(a, "completed", 1_000), pagelessOutcome(c, "failed", 5, "x")] });
    expect(total(await usageOf(key))).toEqual({ ...once, failed: 1, fetch_jobs: 3 });
  });

  it("lists every day of the range, and refuses ranges it cannot answer with the parameter named", async () => {
    const { key } = await newTenant();
    const today = dayOf(Date.now());
    const ago = (days: number) => dayOf(Date.now() - days * DAY);
    const byDefault = await usageOf(key, "");
    expect(byDefault.days.map((d) => d.date)).toEqual(Array.from({ length: 30 }, (_, i) => ago(29 - i)));
    expect(byDefault.days[29]).toEqual({
      date: today,
      jobs: { success: 0, failed: 0, timeout: 0 },
      fetch_jobs: 0,
      browser_jobs: 0,
      browser_seconds: 0,
      bytes_stored: 0,
    });
    expect((await usageOf(key, `from=${ago(89)}&to=${today}`)).days).toHaveLength(90);
    expect((await usageOf(key, `from=${ago(3)}&to=${ago(3)}`)).days.map((d) => d.date)).toEqual([ago(3)]);
    const refused: [string, number, string][] = [
      ["from=2026-02-30", 422, "from"],
      ["to=yesterday", 422, "to"],
      ["from=2026-1-01", 422, "from"],
      [`from=${today}&to=${ago(1)}`, 422, "from"],
      [`from=${ago(90)}&to=${today}`, 422, "from"],
      [`to=${ago(90)}`, 422, "to"],
      [`from=${today}&to=${dayOf(Date.now() + 90 * DAY)}`, 422, "to"],
    ];
    for (const [query, status, path] of refused) {
      const res = await api(`/v1/usage?${query}`, { key });
      const body = (await res.json()) as { detail: string; errors: { path: string }[] };
      expect({ query, status: res.status, path: body.errors?.[0]?.path }).toEqual({ query, status, path });
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(body.detail.length).toBeGreaterThan(10);
    }
    expect((await api("/v1/usage")).status).toBe(401);
  });
});
