/**
 * The window's time-in-a-worker sample is the time from when a consumer took a job's batch to its
 * record, not the page's own fetch + render nor the time from the page's start: a browser batch's jobs
 * wait for one of its 3 slots and are recorded together when it ends, so each is held for the whole
 * batch, and a window sized by one page's time would never let a browser run have more than one batch
 * in flight.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { setNow } from "../src/clock";
import type { RunCoordinator } from "../src/do/run-coordinator";
import * as store from "../src/do/job-store";
import { type Outcome, pagelessOutcome } from "../src/domain";

afterEach(() => setNow(null));

describe("pacing samples", () => {
  it("measures a browser batch's jobs as out from release to record, less their queue wait", async () => {
    const stub = env.RUNS.get(env.RUNS.idFromName(crypto.randomUUID()));
    const prefix = "a".repeat(24);
    const t0 = Date.UTC(2026, 10, 29, 12);
    const service = await runInDurableObject(stub, async (instance: RunCoordinator, state) => {
      const sql = state.storage.sql;
      store.migrate(sql);
      const run = {
        run_id: crypto.randomUUID(),
        tenant: "t",
        collection_id: "c",
        job_prefix: prefix,
        requests_version: 1,
        total: 12,
        browser_total: 12,
        created_ms: t0,
      };
      store.insertRun(sql, run, 1, Date.now());
      const spec = JSON.stringify({ browser: true, timeout: 30_000 });
      store.insertJobs(
        sql,
        Array.from({ length: 12 }, (_, seq) => ({
          seq,
          url: `https://pages.example/${seq}`,
          custom_id: null,
          browser: 1,
          spec,
        })),
        null,
      );
      store.setCreated(sql, 12);
      store.releasePending(sql, "pages.example", 12, t0, () => 600_000);
      // A batch of 12 that waited 1 s in the queue, rendered 3 pages at a time for 12 s (each page
      // 3 s of fetch + render), and recorded them together at the end. As the consumer reports them, a
      // job's queue wait runs to its own start, which for the last three is 9 s into the batch.
      setNow(t0 + 13_000);
      const outcomes: Outcome[] = Array.from({ length: 12 }, (_, seq) => ({
        ...pagelessOutcome(`${prefix}${seq.toString(16).padStart(12, "0")}`, "completed", 1, ""),
        error: null,
        status_code: 200,
        queue_wait_ms: 1_000 + Math.floor(seq / 3) * 3_000,
        batch_wait_ms: 1_000,
        fetch_ms: 1_000,
        render_ms: 2_000,
      }));
      await instance.record({ outcomes });
      return store.readRun(sql)!.service_ms;
    });
    // Out for 13 s, of which 1 s in the queue: 12 s in a worker (from each page's start: 7.5 s on
    // average; fetch + render alone would be 3 s).
    expect(service).toBe(12_000);
  });
});
