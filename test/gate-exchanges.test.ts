/**
 * What per-host politeness costs in Durable Object requests: a run keeps the host slots the
 * tenant's HostGate granted it and refills them from its own pending jobs, so a run of one host
 * asks the gate at its start and at its end, not once per recorded batch (the bench's target is
 * DO requests per job: ≤ 0.05 fetch, ≤ 0.1 browser, and each record() is already one). Counted
 * with the bench's own counter (src/metrics.ts, do_gate_requests) on the run object's binding, while
 * the test plays the consumers: batches of released jobs, each recorded with one record() call.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { setNow } from "../src/clock";
import type { RunCoordinator } from "../src/do/run-coordinator";
import * as store from "../src/do/job-store";
import { type JobMessage, pagelessOutcome } from "../src/domain";
import { instrument, resetUsage, usage } from "../src/metrics";

afterEach(() => setNow(null));

/**
 * Runs `total` jobs of one host through a run object, `batch` at a time as a consumer would (all
 * released jobs in flight, each batch's outcomes recorded together, `batchMs` apart), and returns
 * the run object's calls to its tenant's HostGate, its record() calls and the most jobs it had
 * in flight at once.
 */
async function playRun(o: { total: number; browser: boolean; batch: number; batchMs: number; perHost: number }) {
  const stub = env.RUNS.get(env.RUNS.idFromName(crypto.randomUUID()));
  const prefix = crypto.randomUUID().replaceAll("-", "").slice(0, 24);
  return runInDurableObject(stub, async (instance: RunCoordinator, state) => {
    const sql = state.storage.sql;
    store.migrate(sql);
    let t = Date.now();
    setNow(t);
    store.insertRun(
      sql,
      {
        run_id: crypto.randomUUID(),
        // A tenant of its own: its HostGate starts empty.
        tenant: crypto.randomUUID(),
        collection_id: "c",
        job_prefix: prefix,
        requests_version: 1,
        total: o.total,
        browser_total: o.browser ? o.total : 0,
        created_ms: t,
        per_host_concurrency: o.perHost,
      },
      1,
      Date.now(),
    );
    const spec = JSON.stringify({ browser: o.browser, timeout: 30_000 });
    const rows = Array.from({ length: o.total }, (_, seq) => ({
      seq,
      url: `https://pages.example/${seq}`,
      custom_id: null,
      browser: o.browser ? 1 : 0,
      spec,
    }));
    store.insertJobs(sql, rows, null);
    store.setCreated(sql, o.total);
    // The object's calls to other objects counted as the bench counts them; its queue sends unused
    // (the test takes the released jobs from record()'s answers, as the consumer does).
    const counted = instrument({ ...env, BENCH_METRICS: "true" });
    Object.defineProperty(instance, "env", { value: counted, configurable: true });
    resetUsage();
    // start() releases the first window; its only outbound call here is the gate's.
    let queue: JobMessage[] = (await instance.record({ outcomes: [] })).release;
    let records = 0;
    let most = queue.length;
    for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
      const taken = queue.slice(0, o.batch);
      queue = queue.slice(o.batch);
      t += o.batchMs;
      setNow(t);
      const outcomes = taken.map((m) => ({
        ...pagelessOutcome(m.job_id, "completed", 1, ""),
        error: null,
        status_code: 200,
        fetch_ms: 100,
      }));
      const { release } = await instance.record({ outcomes });
      records++;
      queue.push(...release);
      most = Math.max(most, store.countInFlight(sql));
    }
    return { gateCalls: usage.do_gate_requests, records, most, run: store.readRun(sql)! };
  });
}

describe("host gate exchanges", () => {
  it("a browser run of 100 pages on one host asks the gate at its start and its end, not per batch", async () => {
    const r = await playRun({ total: 100, browser: true, batch: 12, batchMs: 8_000, perHost: 12 });
    expect(r.run.status).toBe("completed");
    expect(r.run.success).toBe(100);
    expect(r.records).toBe(9);
    expect(r.most).toBeLessThanOrEqual(12);
    // One exchange when the run starts, one end: 0.02 per page over the 0.09 of its records.
    expect(r.gateCalls).toBe(2);
  });

  it("a fetch run of 1,000 jobs on one host does the same over 40 batches", async () => {
    const r = await playRun({ total: 1_000, browser: false, batch: 25, batchMs: 500, perHost: 50 });
    expect(r.run.status).toBe("completed");
    expect(r.run.success).toBe(1_000);
    expect(r.records).toBe(40);
    expect(r.most).toBeLessThanOrEqual(50);
    expect(r.gateCalls).toBe(2);
  });
});
