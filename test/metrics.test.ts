/** The benchmark's unit costs come from these counters, so they must count what really happens. */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { instrument, resetUsage, usage } from "../src/metrics";
import { ADMIN, api } from "./support/api";

beforeEach(() => resetUsage());

describe("bench-mode operation counters", () => {
  it("are off, and their endpoint 404s, outside bench mode", async () => {
    expect(instrument(env)).toBe(env);
    expect((await api("/v1/admin/usage", { key: ADMIN })).status).toBe(404);
  });

  it("count D1 statements and rows, R2 classes, queue messages and DO calls", async () => {
    const e = instrument({ ...env, BENCH_METRICS: "true" });
    await e.DB.prepare("INSERT INTO api_keys (key_id, tenant, key_hash, created_at) VALUES (?1, 't', ?1, 'now')").bind(crypto.randomUUID()).run();
    await e.DB.batch([e.DB.prepare("SELECT count(*) FROM api_keys"), e.DB.prepare("SELECT 1")]);
    expect(usage.d1_statements).toBe(3);
    expect(usage.d1_write_statements).toBe(1);
    expect(usage.d1_rows_written).toBeGreaterThanOrEqual(1);
    await e.BODIES.put("bench/x", "y");
    await e.BODIES.get("bench/x");
    await e.BODIES.delete(["bench/x", "bench/y"]);
    expect([usage.r2_class_a, usage.r2_class_b]).toEqual([3, 1]);
    expect(usage.r2_requests).toBe(3);
    const stub = e.RUNS.get(e.RUNS.idFromName(crypto.randomUUID()));
    expect(await stub.snapshot("nobody")).toBeNull();
    expect(usage.do_requests).toBe(1);
  });
});

describe("statement cost does not grow with the run", () => {
  it("records a batch of outcomes reading about its own rows, in a run of 5,000 jobs", async () => {
    const { insertCollection } = await import("../src/db/collections");
    const { insertRunWithJobs } = await import("../src/db/runs");
    const { finishJobs, claimJobs } = await import("../src/db/jobs");
    const e = instrument({ ...env, BENCH_METRICS: "true" });
    const collectionId = crypto.randomUUID();
    const spec = { screenshot: false, full_page: false, actions: [], timeout: 30_000 };
    await insertCollection(e.DB, { id: collectionId, tenant: "cost", name: "c", at: new Date().toISOString() },
      Array.from({ length: 5_000 }, (_, i) => ({ url: `https://example.com/${i}`, custom_id: null, browser: false, spec })));
    const runId = crypto.randomUUID();
    const prefix = crypto.randomUUID().slice(0, 24);
    const at = new Date().toISOString();
    await insertRunWithJobs(e.DB, {
      id: runId, tenant: "cost", collection_id: collectionId, created_at: at, deadline_at: at, job_prefix: prefix,
      cap: 10_000,
    });
    const ids = Array.from({ length: 25 }, (_, i) => `${prefix}${(2_000 + i).toString(16).padStart(12, "0")}`);
    resetUsage();
    await claimJobs(e.DB, ids, new Date().toISOString());
    const writes = ids.map((job_id) => ({ job_id, status: "completed" as const, status_code: 200, final_url: null, blocked_reason: null, error: null, queue_wait_ms: 1, fetch_ms: 1, render_ms: null, total_ms: 2, body_key: null, body_offset: null, body_length: null, screenshot_key: null, result_meta: null }));
    expect((await finishJobs(e.DB, runId, new Date().toISOString(), writes)).length).toBe(25);
    expect(usage.d1_statements).toBe(2);
    // Each statement reads the 25 rows it touches (with their index entries: ~350 here), not the
    // run's 5,000 (a plan driven by the run_id index read 135,275).
    expect(usage.d1_rows_read).toBeLessThan(1_000);
  });
});
