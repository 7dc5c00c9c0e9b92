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
    const stub = e.RUNS.get(e.RUNS.idFromName(crypto.randomUUID()));
    expect(await stub.snapshot("nobody")).toBeNull();
    expect(usage.do_requests).toBe(1);
  });
});
