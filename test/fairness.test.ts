/**
 * Pacing and fairness: a run keeps a bounded window of jobs in the shared queue, so one tenant's
 * backlog (fast or hanging) cannot bury another tenant's small run; and a consumer never holds more
 * work than it can finish in a bounded wall time.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { JobMessage } from "../src/domain";
import { START_GRACE_MS } from "../src/queue/consume";
import worker from "../src/worker";
import { api, createCollection, getRun, newTenant, startRun, target, waitForRun } from "./support/api";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cancel = (key: string, cid: string, rid: string) =>
  api(`/v1/async/collections/${cid}/runs/${rid}/cancel`, { method: "POST", key });

/** Starts a run of `n` requests and returns how long it takes to finish, from its start. */
async function timedRun(key: string, requests: unknown[]) {
  const col = await createCollection(key, requests);
  const t0 = Date.now();
  const run = await startRun(key, col.id);
  const done = await waitForRun(key, col.id, run.run_id, 120_000);
  return { ms: Date.now() - t0, done };
}

// The 10,000-job scenario runs first: a cancelled run's hanging pages already in the queue hold a
// local consumer (one batch at a time) until their timeout.
describe("fairness between tenants", () => {
  it("finishes small runs of two other tenants within seconds behind a 10,000-job run", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const c = await newTenant();
    const big = await createCollection(
      a.key,
      Array.from({ length: 10_000 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const aRun = await startRun(a.key, big.id);
    await sleep(2_000);
    const [five, ten] = await Promise.all([
      timedRun(
        b.key,
        Array.from({ length: 5 }, (_, i) => ({ url: target(`/page/${i}`) })),
      ),
      timedRun(
        c.key,
        Array.from({ length: 10 }, (_, i) => ({ url: target(`/page/${i}`) })),
      ),
    ]);
    expect(five.done.success_requests).toBe(5);
    expect(ten.done.success_requests).toBe(10);
    expect(five.ms).toBeLessThan(5_000);
    expect(ten.ms).toBeLessThan(5_000);
    // The big run kept going meanwhile and stays consistent when cancelled.
    const progressed = await getRun(a.key, big.id, aRun.run_id);
    expect(progressed.success_requests).toBeGreaterThan(0);
    const cancelled = (await (await cancel(a.key, big.id, aRun.run_id)).json()) as Record<string, number>;
    expect(cancelled.success_requests + cancelled.failed_requests + cancelled.timeout_requests).toBe(10_000);
  }, 120_000);

  it("finishes another tenant's 5 pages within one timeout behind 300 hanging pages", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const TIMEOUT = 20_000;
    const hanging = await createCollection(
      a.key,
      Array.from({ length: 300 }, (_, i) => ({ url: target(`/hang?${i}`), timeout: TIMEOUT })),
    );
    const aRun = await startRun(a.key, hanging.id);
    await sleep(2_000);
    const { ms, done } = await timedRun(
      b.key,
      Array.from({ length: 5 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    expect(done).toMatchObject({ status: "completed", success_requests: 5 });
    expect(ms).toBeLessThan(TIMEOUT + 10_000);
    // Tenant A's run is paced: most of its jobs were never released into the queue.
    const released = await runInDurableObject(
      env.RUNS.get(env.RUNS.idFromName(aRun.run_id)),
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE releases > 0").one().n,
    );
    expect(released).toBeLessThan(150);
    expect((await cancel(a.key, hanging.id, aRun.run_id)).status).toBe(200);
  }, 90_000);
});

describe("bounded consumer wall time", () => {
  it("starts jobs only within the grace period and hands the rest back without spending an attempt", async () => {
    const { key, tenant } = await newTenant();
    const TIMEOUT = 5_000;
    const col = await createCollection(
      key,
      Array.from({ length: 50 }, (_, i) => ({ url: target(`/hang?w${i}`), timeout: TIMEOUT })),
    );
    const run = await startRun(key, col.id);
    const msgs: JobMessage[] = await runInDurableObject(env.RUNS.get(env.RUNS.idFromName(run.run_id)), (_i, state) =>
      state.storage.sql
        .exec<{ seq: number; url: string; spec: string; prefix: string }>(
          "SELECT seq, url, spec, (SELECT job_prefix FROM run) AS prefix FROM jobs",
        )
        .toArray()
        .map((r) => ({
          kind: "job" as const,
          job_id: `${r.prefix}${r.seq.toString(16).padStart(12, "0")}`,
          run_id: run.run_id,
          tenant,
          url: r.url,
          browser: false,
          spec: JSON.parse(r.spec),
          attempt: 1,
          released_ms: Date.now(),
        })),
    );
    // The largest batch the queue hands over (max_batch_size 50), every page hanging until its timeout.
    const batch = createMessageBatch<unknown>(
      "scrape-jobs",
      msgs.map((body, i) => ({ id: `w-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    const t0 = Date.now();
    await (worker.queue as ExportedHandlerQueueHandler<Env, unknown>)(batch, env, ctx);
    const wall = Date.now() - t0;
    const result = await getQueueResult(batch, ctx);
    // Every job started within the grace period, and none ran past its timeout: the batch's wall
    // time is bounded by grace + timeout (+ recording), whatever the batch holds.
    expect(wall).toBeLessThan(START_GRACE_MS.fetch + TIMEOUT + 5_000);
    // Every message is settled by the consumer itself (recorded, or re-sent unchanged): none is
    // left to the queue's retry, which would count towards the dead-letter limit.
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks.length).toBe(50);
    expect(wall).toBeGreaterThan(TIMEOUT);
    expect((await cancel(key, col.id, run.run_id)).status).toBe(200);
  }, 60_000);
});
