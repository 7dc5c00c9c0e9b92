/** The benchmark's unit costs come from these counters, so they must count what really happens. */
import { runInDurableObject } from "cloudflare:test";
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
    await e.DB.prepare("INSERT INTO api_keys (key_id, tenant, key_hash, created_at) VALUES (?1, 't', ?1, 'now')")
      .bind(crypto.randomUUID())
      .run();
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

describe("the run's job store: cost does not grow with the run", () => {
  it("records 25 outcomes and pages the listing reading about their own rows, in a run of 5,000 jobs", async () => {
    const store = await import("../src/do/job-store");
    const { pagelessOutcome } = await import("../src/domain");
    const stub = env.RUNS.get(env.RUNS.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, (_instance, state) => {
      let rowsRead = 0;
      // Counts the rows each statement reads (index entries included), as SQLite reports them.
      const sql = new Proxy(state.storage.sql, {
        get(target, prop) {
          if (prop !== "exec") return Reflect.get(target, prop);
          return (...args: Parameters<SqlStorage["exec"]>) => {
            const cursor = target.exec(...args);
            const rows = cursor.toArray();
            rowsRead += cursor.rowsRead;
            return {
              toArray: () => rows,
              one: () => rows[0],
              rowsWritten: cursor.rowsWritten,
              rowsRead: cursor.rowsRead,
            };
          };
        },
      }) as SqlStorage;
      store.migrate(state.storage.sql);
      store.insertRun(
        state.storage.sql,
        {
          run_id: "r",
          tenant: "t",
          collection_id: "c",
          job_prefix: "p".repeat(24),
          requests_version: 1,
          total: 5_000,
          browser_total: 0,
          created_ms: 0,
        },
        1,
      );
      const spec = JSON.stringify({ screenshot: false, full_page: false, actions: [], timeout: 30_000 });
      store.insertJobs(
        state.storage.sql,
        Array.from({ length: 5_000 }, (_, seq) => ({
          seq,
          url: `https://example.com/${seq}`,
          custom_id: null,
          browser: 0,
          spec,
        })),
        null,
      );
      store.releasePending(state.storage.sql, "example.com", 3_000, 1, () => 60_000);
      rowsRead = 0;
      for (let seq = 2_000; seq < 2_025; seq++) {
        // Released at 1, recorded at 10 + seq, no queue wait reported: out for 9 + seq ms.
        expect(store.finishJob(sql, seq, pagelessOutcome(`j${seq}`, "completed", 1, "x"), 10 + seq)).toEqual({
          browser: 0,
          held_ms: 9 + seq,
        });
      }
      // Each update reads its own row and index entries, not the run's 5,000 rows.
      expect(rowsRead).toBeLessThan(25 * 10);
      rowsRead = 0;
      expect(store.pageByCompletion(sql, "completed", { completed_ms: 2_010, seq: 2_000 }, 11)).toHaveLength(11);
      expect(store.pageBySeq(sql, { afterSeq: 4_000, limit: 101, statuses: ["pending"] })).toHaveLength(101);
      expect(rowsRead).toBeLessThan(300);
    });
  });
});
