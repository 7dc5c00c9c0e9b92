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
import { LIMITS } from "../src/config";
import { GRANT_TTL_MS, NEWS_REPEAT_MS } from "../src/do/host-gate";
import { DEFAULT_POLITENESS } from "../src/do/host-policy";
import type { RunCoordinator } from "../src/do/run-coordinator";
import * as store from "../src/do/job-store";
import { type JobMessage, pagelessOutcome } from "../src/domain";
import { instrument, resetUsage, usage } from "../src/metrics";
import { BROWSER_FLUSH } from "../src/queue/recorder";

/** A browser batch: what the browser queue hands a consumer, recorded with one record(). */
const BROWSER_BATCH = BROWSER_FLUSH.size;

afterEach(() => setNow(null));

/**
 * A run object of `total` jobs on pages.example (or on `hosts`, in turn), its calls to other objects
 * counted as the bench counts them.
 */
async function newRun(o: {
  tenant: string;
  total: number;
  browser: boolean;
  perHost: number;
  t: number;
  hosts?: string[];
}) {
  // Named by its run id, as the gate finds it when it has news for it.
  const runId = crypto.randomUUID();
  const stub = env.RUNS.get(env.RUNS.idFromName(runId));
  const prefix = runId.replaceAll("-", "").slice(0, 24);
  await runInDurableObject(stub, async (instance: RunCoordinator, state) => {
    const sql = state.storage.sql;
    store.migrate(sql);
    store.insertRun(
      sql,
      {
        run_id: runId,
        tenant: o.tenant,
        collection_id: "c",
        job_prefix: prefix,
        requests_version: 1,
        total: o.total,
        browser_total: o.browser ? o.total : 0,
        created_ms: o.t,
        per_host_concurrency: o.perHost,
      },
      1,
      Date.now(),
    );
    const spec = JSON.stringify({ browser: o.browser, timeout: 30_000 });
    const rows = Array.from({ length: o.total }, (_, seq) => ({
      seq,
      url: `https://${o.hosts ? o.hosts[seq % o.hosts.length] : "pages.example"}/${seq}`,
      custom_id: null,
      browser: o.browser ? 1 : 0,
      spec,
    }));
    store.insertJobs(sql, rows, null);
    store.setCreated(sql, o.total);
    // The test takes released jobs from record()'s answers, as the consumer does, so nothing is sent.
    Object.defineProperty(instance, "env", {
      value: instrument({ ...env, BENCH_METRICS: "true" }),
      configurable: true,
    });
  });
  return stub;
}

/** Records the outcomes of `jobs` (none: a refill alone, as start() does); returns the jobs released in their place. */
async function record(stub: DurableObjectStub<RunCoordinator>, jobs: JobMessage[]): Promise<JobMessage[]> {
  return runInDurableObject(stub, async (instance: RunCoordinator) => {
    const outcomes = jobs.map((m) => ({
      ...pagelessOutcome(m.job_id, "completed", 1, ""),
      error: null,
      status_code: 200,
      fetch_ms: 100,
    }));
    return (await instance.record({ outcomes })).release;
  });
}

/**
 * Runs `total` jobs of one host through a run object, `batch` at a time as a consumer would (all
 * released jobs in flight, each batch's outcomes recorded together, `batchMs` apart), and returns
 * the run object's calls to its tenant's HostGate, its record() calls and the most jobs it had
 * in flight at once.
 */
async function playRun(o: {
  total: number;
  browser: boolean;
  batch: number;
  batchMs: number;
  perHost: number;
  hosts?: string[];
}) {
  let t = Date.now();
  setNow(t);
  // A tenant of its own: its HostGate starts empty.
  const stub = await newRun({ ...o, tenant: crypto.randomUUID(), t });
  resetUsage();
  let queue = await record(stub, []);
  let records = 0;
  let most = queue.length;
  for (let guard = 0; queue.length > 0 && guard < 10_000; guard++) {
    const taken = queue.slice(0, o.batch);
    queue = queue.slice(o.batch);
    t += o.batchMs;
    setNow(t);
    queue.push(...(await record(stub, taken)));
    records++;
    most = Math.max(most, queue.length);
  }
  const [run, alarm] = await runInDurableObject(stub, async (_i, state) => {
    return [store.readRun(state.storage.sql)!, await state.storage.getAlarm()] as const;
  });
  return { gateCalls: usage.do_gate_requests, records, most, run, alarm };
}

/** Whether the run heard (within 10 s) that another run of its tenant waits for pages.example. */
async function hears(stub: DurableObjectStub<RunCoordinator>): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    const heard = await runInDurableObject(stub, (instance: RunCoordinator) => {
      return (instance as unknown as { busy: Set<string> }).busy.has("pages.example");
    });
    if (heard) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe("host gate exchanges", () => {
  it("a browser run of 100 pages on one host asks the gate at its start and its end, not per batch", async () => {
    const r = await playRun({
      total: 100,
      browser: true,
      batch: BROWSER_BATCH,
      batchMs: 16_000,
      perHost: BROWSER_BATCH,
    });
    expect(r.run.status).toBe("completed");
    expect(r.run.success).toBe(100);
    expect(r.records).toBe(5);
    expect(r.most).toBeLessThanOrEqual(BROWSER_BATCH);
    // One exchange when the run starts, one end: 0.02 per page over the 0.05 of its records.
    expect(r.gateCalls).toBe(2);
    // Nothing more is due before retention: an alarm armed while it ran (its counter sync, its slots'
    // renewal) would come back for nothing, an alarm and a gate call later, charged to nobody's run.
    expect(r.alarm).toBeGreaterThan(Date.now() + LIMITS.metadataRetentionMs - 24 * 3600_000);
  });

  it("a browser run whose window grows asks for a batch more at a time, not at each record", async () => {
    // 50 per host: the window (at least one batch, sized by throughput × time held) is what limits it.
    const r = await playRun({ total: 600, browser: true, batch: BROWSER_BATCH, batchMs: 16_000, perHost: 50 });
    expect(r.run.status).toBe("completed");
    expect(r.records).toBeGreaterThanOrEqual(20);
    // The window grew past its first batch, so the run wanted slots beyond those it was granted.
    expect(r.most).toBeGreaterThan(BROWSER_BATCH);
    // Asking for the shortfall alone made one exchange per record while the window crept up.
    expect(r.gateCalls).toBeLessThanOrEqual(5);
  });

  it("a fetch run of 1,000 jobs on one host does the same over 40 batches", async () => {
    const r = await playRun({ total: 1_000, browser: false, batch: 25, batchMs: 500, perHost: 50 });
    expect(r.run.status).toBe("completed");
    expect(r.run.success).toBe(1_000);
    expect(r.records).toBe(40);
    expect(r.most).toBeLessThanOrEqual(50);
    expect(r.gateCalls).toBe(2);
    expect(r.alarm).toBeGreaterThan(Date.now() + LIMITS.metadataRetentionMs - 24 * 3600_000);
  });

  it("counts hosts named like Object.prototype's properties as hosts", async () => {
    // URL hosts are lower-cased: "constructor" and "__proto__" are the names a per-host record could
    // mistake for its own inherited properties (a slot count that is a function, a key that is lost).
    const hosts = ["constructor", "__proto__", "pages.example"];
    const r = await playRun({ total: 90, browser: false, batch: 25, batchMs: 500, perHost: 6, hosts });
    expect(r.run.status).toBe("completed");
    expect(r.run.success).toBe(90);
    expect(r.most).toBeLessThanOrEqual(18);
  });

  it("a run keeping its slots hears of another run of the tenant waiting for the host, and shares it", async () => {
    setNow(Date.now());
    const tenant = crypto.randomUUID();
    const a = await newRun({ tenant, total: 100, browser: false, perHost: 12, t: Date.now() });
    const b = await newRun({ tenant, total: 100, browser: false, perHost: 12, t: Date.now() });
    const first = await record(a, []);
    expect(first).toHaveLength(12);
    // The host is full with a's jobs: b gets nothing and waits, which is news to a.
    expect(await record(b, [])).toHaveLength(0);
    // b's alarm would ask again every 0.5 s and could take the freed slots (and send them to the
    // queue) before the test's own call for b below: the test asks for b itself.
    await runInDurableObject(b, (_i, state) => state.storage.deleteAlarm());
    expect(await hears(a)).toBe(true);
    // a's batch ends: instead of refilling all 12 of its slots itself, it takes its share of the
    // host, and b gets the rest when it asks again.
    const again = await record(a, first);
    expect(again).toHaveLength(6);
    expect(await record(b, [])).toHaveLength(6);
  });

  it("a run quiet past its grants' lifetime claims its jobs in flight alone, not the slots it kept", async () => {
    let t = Date.now();
    setNow(t);
    const tenant = crypto.randomUUID();
    const a = await newRun({ tenant, total: 40, browser: false, perHost: 12, t });
    const first = await record(a, []);
    expect(first).toHaveLength(12);
    // Half of a's jobs end: it refills their slots itself, without the gate.
    const refill = await record(a, first.slice(0, 6));
    expect(refill).toHaveLength(6);
    // Nothing renews a's grants (its object failed, say) and the gate lets them go; another run of
    // the tenant takes the host's 12 slots meanwhile.
    t += GRANT_TTL_MS + 1_000;
    setNow(t);
    const b = await newRun({ tenant, total: 40, browser: false, perHost: 12, t });
    expect(await record(b, [])).toHaveLength(12);
    await runInDurableObject(b, (_i, state) => state.storage.deleteAlarm());
    // a comes back as long after its last exchange: its 6 other jobs end. It may not take back the 12
    // slots it kept (12 + 12 would be out on a host of 12): it reports the 6 still out, and the
    // host being full, releases nothing.
    await runInDurableObject(a, (instance: RunCoordinator) => {
      (instance as unknown as { exchangedAt: number }).exchangedAt = Date.now() - GRANT_TTL_MS;
    });
    expect(await record(a, first.slice(6))).toHaveLength(0);
  });

  it("tells the runs holding a host of a backoff that holds them back, not of one already over", async () => {
    const t = Date.now();
    setNow(t);
    const tenant = crypto.randomUUID();
    const a = await newRun({ tenant, total: 100, browser: false, perHost: 12, t });
    expect(await record(a, [])).toHaveLength(12);
    const newsOf = () =>
      runInDurableObject(a, (instance: RunCoordinator) => (instance as unknown as { news: number }).news);
    const reported = async (until: number) => {
      const before = await newsOf();
      // Another run of the tenant reports a 429 on the host (its Retry-After from now).
      const x = { run_id: "other", politeness: DEFAULT_POLITENESS, held: {}, want: {}, room: 0 };
      await env.HOST_GATES.get(env.HOST_GATES.idFromName(tenant)).exchange({
        ...x,
        backoff: { "pages.example": until },
      });
      await new Promise((r) => setTimeout(r, 300));
      return (await newsOf()) - before;
    };
    expect(await reported(t)).toBe(0);
    expect(await reported(t + 30_000)).toBe(1);
  });

  it("tells each holder once of a new waiter, so told holders that wait in turn do not tell each other", async () => {
    const t = Date.now();
    setNow(t);
    const tenant = crypto.randomUUID();
    const a = await newRun({ tenant, total: 100, browser: false, perHost: 12, t });
    const b = await newRun({ tenant, total: 100, browser: false, perHost: 12, t });
    const first = await record(a, []);
    expect(await record(b, [])).toHaveLength(0);
    await runInDurableObject(b, (_i, state) => state.storage.deleteAlarm());
    expect(await hears(a)).toBe(true);
    expect(await record(a, first)).toHaveLength(6);
    expect(await record(b, [])).toHaveLength(6);
    // a and b hold 6 each and want more. Later (their waiter marks lapsed, nobody told lately) a
    // third run waits for the host: a and b are told, each asks, is refused and waits too.
    setNow(t + NEWS_REPEAT_MS + 2_000);
    for (const r of [a, b]) await runInDurableObject(r, (_i, state) => state.storage.deleteAlarm());
    const newsOf = (r: DurableObjectStub<RunCoordinator>) =>
      runInDurableObject(r, (instance: RunCoordinator) => (instance as unknown as { news: number }).news);
    const before = (await newsOf(a)) + (await newsOf(b));
    const c = await newRun({ tenant, total: 100, browser: false, perHost: 12, t: t + NEWS_REPEAT_MS + 2_000 });
    expect(await record(c, [])).toHaveLength(0);
    const told = async () => (await newsOf(a)) + (await newsOf(b)) - before;
    for (let i = 0; i < 100 && (await told()) < 2; i++) await new Promise((r) => setTimeout(r, 50));
    // Then time for any news the told runs' own exchanges would send.
    await new Promise((r) => setTimeout(r, 500));
    // One news each; a and b waiting in turn told each other before (4, one exchange each more).
    expect(await told()).toBe(2);
  });

  it("a waiting run still refused tells the holders again, so a lost news call costs seconds", async () => {
    const t = Date.now();
    setNow(t);
    const tenant = crypto.randomUUID();
    const a = await newRun({ tenant, total: 100, browser: false, perHost: 12, t });
    const b = await newRun({ tenant, total: 100, browser: false, perHost: 12, t });
    expect(await record(a, [])).toHaveLength(12);
    expect(await record(b, [])).toHaveLength(0);
    await runInDurableObject(b, (_i, state) => state.storage.deleteAlarm());
    expect(await hears(a)).toBe(true);
    // As if that news had been lost: a believes it keeps its 12 slots and nobody waits.
    await runInDurableObject(a, (instance: RunCoordinator) => {
      const state = instance as unknown as { busy: Set<string>; slots: Map<string, number> | null };
      state.busy = new Set();
      state.slots = new Map([["pages.example", 12]]);
    });
    // b keeps asking every 0.5 s, as its alarm does, and is refused while a holds the host.
    for (let waited = 500; waited <= NEWS_REPEAT_MS + 500; waited += 500) {
      setNow(t + waited);
      expect(await record(b, [])).toHaveLength(0);
    }
    expect(await hears(a)).toBe(true);
  });
});
