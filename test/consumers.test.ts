/**
 * A message that cannot be processed fails alone: the consumers settle each message of a batch
 * on its own (ack or retry), so a malformed body or a run whose outcomes cannot be recorded never
 * holds back, re-runs or fails the other messages delivered with it. The handler itself never throws:
 * the local queue broker ignores explicit acks when it does, and redelivers the whole batch.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Outcome } from "../src/domain";
import { allJobs, getRun, newTenant } from "./support/api";
import { deliver, pendingRun, withFault } from "./support/queue";

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`).sort();

/** The env whose run objects fail to record for one run, as a Durable Object or its D1 write would. */
function failingRecordFor(runId: string): Env {
  const failing = env.RUNS.idFromName(runId).toString();
  return withFault("RUNS", {
    get: (id: DurableObjectId) =>
      id.toString() === failing
        ? { record: async () => Promise.reject(new Error("injected record failure")) }
        : env.RUNS.get(id),
  });
}

describe("the jobs consumer", () => {
  it("acks a malformed message without processing it, and runs the jobs delivered with it", async () => {
    const { key, tenant } = await newTenant();
    const run = await pendingRun(key, tenant, ["/page/1", "/page/2", "/page/3"]);
    const malformed = [
      null,
      "job",
      { kind: "job", job_id: "x" },
      { kind: "teleport" },
      { ...run.messages[0], spec: { timeout: "soon" } },
    ];
    const r = await deliver([...run.messages, ...malformed]);
    expect(r.error).toBeNull();
    expect(r.acked).toEqual(ids(0, 8));
    expect(r.retried).toEqual([]);
    expect(await getRun(key, run.collection_id, run.run_id)).toMatchObject({
      status: "completed",
      success_requests: 3,
    });
  });

  it("retries only the jobs of the run whose outcomes could not be recorded", async () => {
    const { key, tenant } = await newTenant();
    const a = await pendingRun(key, tenant, ["/page/1", "/page/2"]);
    const b = await pendingRun(key, tenant, ["/page/3", "/page/4", "/page/5"]);
    const r = await deliver([...a.messages, ...b.messages], failingRecordFor(a.run_id));
    expect(r.retried).toEqual(ids(0, 2));
    expect(r.acked).toEqual(ids(2, 5));
    expect(r.error).toBeNull();
    expect(await getRun(key, b.collection_id, b.run_id)).toMatchObject({ status: "completed", success_requests: 3 });
    expect(await getRun(key, a.collection_id, a.run_id)).toMatchObject({ status: "in_progress", success_requests: 0 });
    // Their redelivery runs them again and counts each once.
    expect(await deliver(a.messages)).toMatchObject({ error: null, acked: ids(0, 2), retried: [] });
    expect(await getRun(key, a.collection_id, a.run_id)).toMatchObject({ status: "completed", success_requests: 2 });
    // Our own failure to record spends no attempt of the job's.
    for (const j of await allJobs(key, a.collection_id, a.run_id)) expect(j.attempts).toBe(1);
  });
});

describe("jobs released in place of recorded outcomes", () => {
  it("go back to the run's object, pending and unspent, when the queue refuses them", async () => {
    const { key, tenant } = await newTenant();
    // 60 pages: the start released the first window of 50 (to a queue that dropped them). All are on
    // one host, so the run allows 50 jobs in flight to it (the default politeness would allow 6).
    const run = await pendingRun(
      key,
      tenant,
      Array.from({ length: 60 }, (_, i) => `/page/${i}`),
      { politeness: { per_host_concurrency: 50 } },
    );
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    const byStatus = () =>
      runInDurableObject(stub, (_i, state) =>
        state.storage.sql
          .exec<{ status: string; n: number; attempts: number }>(
            "SELECT status, count(*) AS n, max(attempts) AS attempts FROM jobs GROUP BY status ORDER BY status",
          )
          .toArray(),
      );
    expect(await byStatus()).toEqual([
      { status: "in_progress", n: 50, attempts: 1 },
      { status: "pending", n: 10, attempts: 0 },
    ]);
    // Recording 25 outcomes releases the last 10 jobs in their place; the queue refuses them.
    const refusing = withFault("JOBS", { sendBatch: async () => Promise.reject(new Error("injected queue failure")) });
    const r = await deliver(run.messages.slice(0, 25), refusing);
    expect(r).toMatchObject({ error: null, retried: [] });
    expect(r.acked).toHaveLength(25);
    // Handed back at once (not left to their lease): pending again, their attempt not spent.
    expect(await byStatus()).toEqual([
      { status: "completed", n: 25, attempts: 1 },
      { status: "in_progress", n: 25, attempts: 1 },
      { status: "pending", n: 10, attempts: 0 },
    ]);
    expect(await getRun(key, run.collection_id, run.run_id)).toMatchObject({ success_requests: 25 });
  });
});

describe("the dead-letter consumer", () => {
  it("retries only the messages of the run whose record() failed; the other runs' jobs end as failed", async () => {
    const { key, tenant } = await newTenant();
    const a = await pendingRun(key, tenant, ["/page/1", "/page/2"]);
    const b = await pendingRun(key, tenant, ["/page/3", "/page/4"]);
    const r = await deliver(
      [...a.messages, ...b.messages, { kind: "job" }],
      failingRecordFor(a.run_id),
      "scrape-jobs-dlq",
    );
    expect(r.retried).toEqual(ids(0, 2));
    expect(r.acked).toEqual(ids(2, 5));
    expect(r.error).toBeNull();
    expect(await getRun(key, b.collection_id, b.run_id)).toMatchObject({ status: "completed", failed_requests: 2 });
    for (const j of await allJobs(key, b.collection_id, b.run_id)) expect(j.error).toMatch(/^worker failure/);
    expect(await getRun(key, a.collection_id, a.run_id)).toMatchObject({ status: "in_progress", failed_requests: 0 });
    expect(await deliver(a.messages, env, "scrape-jobs-dlq")).toMatchObject({
      error: null,
      acked: ids(0, 2),
      retried: [],
    });
    expect(await getRun(key, a.collection_id, a.run_id)).toMatchObject({ status: "completed", failed_requests: 2 });
  });
});

describe("what the consumer reports for pacing", () => {
  it("tells the run's object when the batch was taken, apart from when each page started", async () => {
    const { key, tenant } = await newTenant();
    // 12 pages of 300 ms on one host at 50 per host: 6 at a time, so the last 6 wait for a slot.
    const paths = Array.from({ length: 12 }, (_, i) => `/slow?ms=300&n=${i}`);
    const run = await pendingRun(key, tenant, paths, { politeness: { per_host_concurrency: 50 } });
    const recorded: Outcome[] = [];
    const watched = withFault("RUNS", {
      get: (id: DurableObjectId) => {
        const stub = env.RUNS.get(id);
        return {
          record: (input: { outcomes: Outcome[] }) => {
            recorded.push(...input.outcomes);
            return stub.record(input);
          },
        };
      },
    });
    // Released 5 s before the consumer took them.
    const released_ms = Date.now() - 5_000;
    const r = await deliver(
      run.messages.map((m) => ({ ...m, released_ms })),
      watched,
    );
    expect(r.acked).toHaveLength(12);
    expect(recorded).toHaveLength(12);
    for (const o of recorded) {
      expect(o.batch_wait_ms).toBeGreaterThanOrEqual(5_000);
      expect(o.batch_wait_ms).toBeLessThan(20_000);
      expect(o.queue_wait_ms).toBeGreaterThanOrEqual(o.batch_wait_ms!);
    }
    // The pages that waited for a slot started at least one page (300 ms) after the first ones.
    const slotWaits = recorded.map((o) => o.queue_wait_ms! - o.batch_wait_ms!).sort((a, b) => a - b);
    expect(slotWaits[11] - slotWaits[0]).toBeGreaterThanOrEqual(250);
  });
});
