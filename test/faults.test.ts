/**
 * The fault suite: nothing lost, nothing doubled, nothing stuck. Faults are injected at the real
 * boundaries (duplicate and concurrent deliveries, a bucket or database that fails once, the DLQ
 * racing a late success, the deadline, cancellation) with real D1, R2, Queues and Durable Objects.
 */
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { setNow, now } from "../src/clock";
import { RETRY_SOON_MS, type RunCoordinator } from "../src/do/run-coordinator";
import { pagelessOutcome } from "../src/domain";
import worker from "../src/worker";
import { allJobs, api, createCollection, getRun, newTenant, startRun, target, waitForRun } from "./support/api";
import { messagesOf, pendingRun, withObjectEnv } from "./support/queue";

afterEach(() => setNow(null));

const runStub = (runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));

/** A job's column as the run's object stores it. */
const jobColumn = (runId: string, jobId: string, column: string) =>
  runInDurableObject(
    runStub(runId),
    (_i, state) =>
      state.storage.sql
        .exec(`SELECT ${column} AS v FROM jobs WHERE seq = ?`, Number.parseInt(jobId.slice(24), 16))
        .one().v,
  );

/** Delivers messages to the jobs consumer as the queue would, and returns what it acked/retried. */
async function deliver(msgs: unknown[], e: Env = env, queue = "scrape-jobs") {
  const batch = createMessageBatch<unknown>(
    queue,
    msgs.map((body, i) => ({ id: `${crypto.randomUUID()}-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  let error: unknown = null;
  try {
    await (worker.queue as ExportedHandlerQueueHandler<Env, unknown>)(batch, e, ctx);
  } catch (err) {
    error = err;
  }
  return { error, result: await getQueueResult(batch, ctx).catch(() => null) };
}

/** The run's object (its job rows and counters) and the D1 run row agree. */
async function expectConsistent(key: string, collectionId: string, runId: string, total: number) {
  const run = await getRun(key, collectionId, runId);
  const jobs = await allJobs(key, collectionId, runId);
  expect(jobs.length).toBe(total);
  const byStatus = (s: string) => jobs.filter((j) => j.status === s).length;
  expect(run).toMatchObject({
    total_requests: total,
    success_requests: byStatus("completed"),
    failed_requests: byStatus("failed"),
    timeout_requests: byStatus("timeout"),
  });
  expect(run.success_requests + run.failed_requests + run.timeout_requests).toBeLessThanOrEqual(total);
  const row = await env.DB.prepare("SELECT * FROM runs WHERE id = ?1").bind(runId).first<Record<string, unknown>>();
  expect(row).toMatchObject({
    status: run.status,
    success_requests: run.success_requests,
    failed_requests: run.failed_requests,
    timeout_requests: run.timeout_requests,
    completed_at: run.completed_at,
  });
  return { run, jobs };
}

describe("exactly one outcome per job", () => {
  it("counts every job once when every message is delivered twice, in sequence and concurrently", async () => {
    const { key, tenant } = await newTenant();
    const N = 300;
    const col = await createCollection(
      key,
      Array.from({ length: N }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `j${i}` })),
    );
    const started = await startRun(key, col.id);
    const msgs = await messagesOf(started.run_id, tenant);
    // The queue delivers every message once by itself; add two concurrent duplicate batches of everything.
    const half = Math.ceil(msgs.length / 2);
    await Promise.all([
      deliver(msgs.slice(0, half)),
      deliver(msgs.slice(half)),
      deliver([...msgs].reverse().slice(0, 50)),
    ]);
    const done = await waitForRun(key, col.id, started.run_id);
    expect(done).toMatchObject({ status: "completed", success_requests: N, failed_requests: 0, timeout_requests: 0 });
    const { jobs } = await expectConsistent(key, col.id, started.run_id, N);
    expect(new Set(jobs.map((j) => j.custom_id)).size).toBe(N);
    // Redelivered after completion: nothing moves, the run completed once.
    const again = await deliver(msgs.slice(0, 100));
    expect(again.error).toBeNull();
    expect(again.result?.explicitAcks.length).toBe(100);
    const after = await getRun(key, col.id, started.run_id);
    expect(after).toEqual(done);
  });

  it("loses nothing when R2 fails half-way through a batch, and counts once on redelivery", async () => {
    const { key, tenant } = await newTenant();
    // 60 jobs: the consumer writes a pack of pages every 25 outcomes, so the batch spans 3 writes.
    const col = await createCollection(
      key,
      Array.from({ length: 60 }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `r${i}` })),
    );
    // Cancel the real delivery's effect by racing it: the injected failure happens on our copy.
    const started = await startRun(key, col.id);
    const msgs = await messagesOf(started.run_id, tenant);
    let puts = 0;
    const flakyBucket = new Proxy(env.BODIES, {
      get(target, prop) {
        if (prop === "put") {
          return async (...args: Parameters<R2Bucket["put"]>) => {
            // The second write fails: the first pack is stored, its jobs may be counted, the rest are not.
            if (++puts === 2) throw new Error("injected R2 failure");
            return target.put(...args);
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const failed = await deliver(msgs, { ...env, BODIES: flakyBucket } as Env);
    // The jobs whose pack failed are handed back to the queue, alone; the others are acked.
    expect(failed.error).toBeNull();
    expect(failed.result!.retryMessages.length).toBeGreaterThan(0);
    expect(failed.result!.retryMessages.length + failed.result!.explicitAcks.length).toBe(60);
    // The queue retries the batch: redeliver it with a healthy bucket.
    await deliver(msgs);
    const done = await waitForRun(key, col.id, started.run_id);
    expect(done).toMatchObject({ status: "completed", success_requests: 60 });
    expect(puts).toBeGreaterThanOrEqual(2);
    const { jobs } = await expectConsistent(key, col.id, started.run_id, 60);
    for (const j of jobs) expect(j.result_available).toBe(true);
  });

  it("counts in the run's object when the D1 run row cannot be written, and the row catches up", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/slow/1500"), custom_id: "one" }]);
    const started = await startRun(key, col.id);
    const [msg] = await messagesOf(started.run_id, tenant);
    const outcome = pagelessOutcome(msg.job_id, "failed", 1, "injected");
    // The outcome commits in the object; the D1 sync after it fails (a failure between two writes).
    const failing = () => {
      throw new Error("injected D1 failure");
    };
    await runInDurableObject(runStub(started.run_id), (instance: RunCoordinator) =>
      withObjectEnv(
        instance,
        (real) => ({
          DB: new Proxy(real.DB, { get: (t, prop) => (prop === "batch" ? failing : Reflect.get(t, prop)) }),
        }),
        () => instance.record({ outcomes: [outcome] }),
      ),
    );
    expect(await getRun(key, col.id, started.run_id)).toMatchObject({ status: "completed", failed_requests: 1 });
    const row = () =>
      env.DB.prepare("SELECT status, failed_requests FROM runs WHERE id = ?1").bind(started.run_id).first();
    expect(await row()).toMatchObject({ status: "in_progress", failed_requests: 0 });
    // The object's alarm syncs the row; the real fetch's later success changes nothing.
    await runDurableObjectAlarm(runStub(started.run_id));
    expect(await row()).toMatchObject({ status: "completed", failed_requests: 1 });
    await new Promise((r) => setTimeout(r, 2_000));
    await expectConsistent(key, col.id, started.run_id, 1);
  });

  it("backs off a failed D1 sync: retried by the alarm after RETRY_SOON_MS, not by each call meanwhile", async () => {
    const { key, tenant } = await newTenant();
    const run = await pendingRun(key, tenant, ["/ok", "/ok"]);
    const outcomes = run.messages.map((m) => pagelessOutcome(m.job_id, "failed", 1, "injected"));
    const stub = runStub(run.run_id);
    // D1 as the run's object sees it: its batch (the sync's one call) fails while `down`, and each
    // try is timed.
    let down = true;
    const tries: number[] = [];
    let restore: () => void = () => undefined;
    await runInDurableObject(stub, (instance: RunCoordinator) => {
      const holder = instance as unknown as { env: Env };
      const real = holder.env;
      const batch: D1Database["batch"] = (statements) => {
        tries.push(Date.now());
        if (down) throw new Error("injected D1 failure");
        return real.DB.batch(statements);
      };
      holder.env = { ...real, DB: new Proxy(real.DB, { get: (t, p) => (p === "batch" ? batch : Reflect.get(t, p)) }) };
      restore = () => void (holder.env = real);
    });
    const record = () => runInDurableObject(stub, (i: RunCoordinator) => i.record({ outcomes }));
    const row = () => env.DB.prepare("SELECT status, failed_requests FROM runs WHERE id = ?1").bind(run.run_id).first();
    try {
      // The run completes in its object; the sync of its row fails.
      await record();
      expect(tries).toHaveLength(1);
      const alarm = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
      expect(alarm).toBeGreaterThanOrEqual(tries[0] + RETRY_SOON_MS);
      // Late duplicates within the backoff change nothing and do not try D1 again.
      for (let i = 0; i < 3; i++) await record();
      expect(tries).toHaveLength(1);
      expect(await row()).toMatchObject({ status: "in_progress", failed_requests: 0 });
      // The alarm tries again, fails, and backs off again; once D1 answers, the row converges.
      const until = Date.now() + 30_000;
      while (tries.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(tries).toHaveLength(2);
      down = false;
      while (tries.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(tries).toHaveLength(3);
      expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(RETRY_SOON_MS);
      expect(tries[2] - tries[1]).toBeGreaterThanOrEqual(RETRY_SOON_MS);
      await expectConsistent(key, run.collection_id, run.run_id, 2);
      expect(await row()).toMatchObject({ status: "completed", failed_requests: 2 });
    } finally {
      restore();
    }
  });

  it("retries a browser batch when no browser can be had, without spending an attempt", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok"), browser: true, custom_id: "b" }]);
    const started = await startRun(key, col.id);
    const msgs = await messagesOf(started.run_id, tenant);
    // The Browser Rendering binding refuses the launch, as it does past the account's limits.
    const refusing = {
      fetch: async () => new Response("Rate limit exceeded", { status: 429 }),
    } as unknown as Env["BROWSER"];
    const { error, result } = await deliver(msgs, { ...env, BROWSER: refusing } as Env, "scrape-browser-jobs");
    expect(error).toBeNull();
    // Handed back to the queue as a fresh message with the same attempt, not as a queue retry.
    expect(result?.explicitAcks.length).toBe(1);
    const done = await waitForRun(key, col.id, started.run_id);
    expect(done.success_requests).toBe(1);
    // The refused delivery spent no attempt.
    const [job] = await allJobs(key, col.id, started.run_id);
    expect(job.attempts).toBe(1);
  });

  it("lets the first of a late success and a dead-letter failure win, counted once", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 20 }, (_, i) => ({ url: target(`/slow/${100 + i * 10}`), custom_id: `d${i}` })),
    );
    const started = await startRun(key, col.id);
    const msgs = await messagesOf(started.run_id, tenant);
    // Every job gets a dead-letter failure while its real delivery is still fetching it.
    await deliver(msgs, env, "scrape-jobs-dlq");
    const done = await waitForRun(key, col.id, started.run_id);
    expect(done.success_requests + done.failed_requests).toBe(20);
    const { jobs } = await expectConsistent(key, col.id, started.run_id, 20);
    for (const j of jobs.filter((x) => x.status === "failed")) expect(j.error).toMatch(/worker failure/);
    // Let the slow fetches land; nothing changes.
    await new Promise((r) => setTimeout(r, 500));
    expect(await getRun(key, col.id, started.run_id)).toEqual(done);
  });

  it("runs a job once when the same message sits twice in one batch", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const started = await startRun(key, col.id);
    await waitForRun(key, col.id, started.run_id);
    const [m] = await messagesOf(started.run_id, tenant);
    const r = await deliver([m, m]);
    expect(r.result?.explicitAcks.length).toBe(2);
    const [job] = await allJobs(key, col.id, started.run_id);
    expect(job.attempts).toBe(1);
  });
});

describe("no run stuck", () => {
  it("releases a job again when its lease runs out, ends it as timeout after the last, and ignores a late result", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [
      { url: target("/ok"), custom_id: "fast" },
      { url: target("/hang"), custom_id: "stuck", timeout: 5_000 },
    ]);
    const started = await startRun(key, col.id);
    const until = Date.now() + 10_000;
    while ((await getRun(key, col.id, started.run_id)).success_requests < 1 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    const stub = runStub(started.run_id);
    const lease = () =>
      runInDurableObject(stub, (_i, state) =>
        state.storage.sql.exec("SELECT lease_ms, releases FROM jobs WHERE custom_id = 'stuck'").one(),
      );
    // Every lease running out releases the job again, up to the last one, after which it times out.
    for (let release = 1; release <= 3; release++) {
      const l = await lease();
      expect(l.releases).toBe(release);
      setNow((l.lease_ms as number) + 1);
      expect(await runDurableObjectAlarm(stub)).toBe(true);
    }
    const run = await getRun(key, col.id, started.run_id);
    expect(run).toMatchObject({ status: "completed", success_requests: 1, timeout_requests: 1, failed_requests: 0 });
    const jobs = await allJobs(key, col.id, started.run_id);
    expect(jobs.find((j) => j.custom_id === "stuck")).toMatchObject({
      status: "timeout",
      error: expect.stringMatching(/lease/),
    });
    setNow(null);
    await new Promise((r) => setTimeout(r, 6_000)); // the released copies time out and report
    expect(await getRun(key, col.id, started.run_id)).toEqual(run);
    await expectConsistent(key, col.id, started.run_id, 2);
  });

  it('cancels a run: unfinished jobs end as failed "cancelled" and the counters still add up', async () => {
    const { key } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 30 }, (_, i) => ({ url: target(`/slow/${1500 + i}`), custom_id: `c${i}` })),
    );
    const started = await startRun(key, col.id);
    const res = await api(`/v1/async/collections/${col.id}/runs/${started.run_id}/cancel`, { method: "POST", key });
    expect(res.status).toBe(200);
    const cancelled = (await res.json()) as {
      status: string;
      failed_requests: number;
      total_requests: number;
      success_requests: number;
      timeout_requests: number;
    };
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.success_requests + cancelled.failed_requests + cancelled.timeout_requests).toBe(30);
    await new Promise((r) => setTimeout(r, 2_000));
    const { run, jobs } = await expectConsistent(key, col.id, started.run_id, 30);
    expect(run).toMatchObject({ status: "cancelled", failed_requests: cancelled.failed_requests });
    expect(jobs.filter((j) => j.error === "cancelled").length).toBe(cancelled.failed_requests);
    // Cancelling again changes nothing.
    const again = (await (
      await api(`/v1/async/collections/${col.id}/runs/${started.run_id}/cancel`, { method: "POST", key })
    ).json()) as object;
    expect(again).toEqual(run);
  });

  it("the cron backstop starts a run whose object never started, from its D1 row", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const runId = crypto.randomUUID();
    const t = now();
    // A run row written to D1 whose object start was lost (the Worker died in between).
    await env.DB.prepare(
      `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, requests_version, synced_at)
       VALUES (?1, ?2, ?3, 'in_progress', 1, ?4, 1, ?4)`,
    )
      .bind(runId, tenant, col.id, new Date(t).toISOString())
      .run();
    setNow(t + 20 * 60_000);
    const waits: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (p: Promise<unknown>) => void waits.push(p),
      passThroughOnException: () => undefined,
      props: {},
    };
    await worker.scheduled(
      { cron: "17 * * * *", scheduledTime: now(), noRetry() {} } as ScheduledController,
      env,
      ctx as unknown as ExecutionContext,
    );
    await Promise.all(waits);
    setNow(null);
    expect(await waitForRun(key, col.id, runId)).toMatchObject({ status: "completed", success_requests: 1 });
  });
});

describe("idempotency under concurrency", () => {
  it("20 concurrent creates with one key make exactly one collection", async () => {
    const { key } = await newTenant();
    const k = crypto.randomUUID();
    const json = { name: "once", requests: Array.from({ length: 200 }, (_, i) => ({ url: target(`/page/${i}`) })) };
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        api("/v1/async/collections", { method: "POST", key, json, headers: { "idempotency-key": k } }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    for (const r of responses.filter((x) => x.status === 409)) expect(r.headers.get("retry-after")).toBeTruthy();
    const ids = new Set(
      await Promise.all(
        responses.filter((r) => r.status === 201).map(async (r) => ((await r.json()) as { id: string }).id),
      ),
    );
    expect(ids.size).toBe(1);
    expect(((await (await api("/v1/async/collections", { key })).json()) as { total: number }).total).toBe(1);
  });

  it("forgets a key after 24 hours", async () => {
    const { key } = await newTenant();
    const k = crypto.randomUUID();
    const a = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "a", requests: [{ url: target("/ok") }] },
      headers: { "idempotency-key": k },
    });
    expect(a.status).toBe(201);
    setNow(Date.now() + 24 * 3600_000 - 1000);
    expect(
      (
        await api("/v1/async/collections", {
          method: "POST",
          key,
          json: { name: "b", requests: [{ url: target("/ok") }] },
          headers: { "idempotency-key": k },
        })
      ).status,
    ).toBe(422);
    setNow(Date.now() + 24 * 3600_000 + 1000);
    const c = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "b", requests: [{ url: target("/ok") }] },
      headers: { "idempotency-key": k },
    });
    expect(c.status).toBe(201);
    expect(c.headers.get("idempotent-replayed")).toBeNull();
  });
});

describe("retention", () => {
  it("serves HTML for 48 h, then 410; the sweep deletes bodies, and metadata after 90 days", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const started = await startRun(key, col.id);
    const run = await waitForRun(key, col.id, started.run_id);
    const [job] = await allJobs(key, col.id, started.run_id);
    const result = `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs/${job.job_id}/result`;
    const completed = Date.parse(job.completed_at!);
    const sweepAt = async (t: number) => {
      setNow(t);
      const waits: Promise<unknown>[] = [];
      await worker.scheduled({ cron: "17 * * * *", scheduledTime: t, noRetry() {} } as ScheduledController, env, {
        waitUntil: (p: Promise<unknown>) => void waits.push(p),
        passThroughOnException() {},
        props: {},
      } as unknown as ExecutionContext);
      await Promise.all(waits);
    };
    const body_key = (await jobColumn(run.run_id, job.job_id, "body_key")) as string;
    const objects = async () => ((await env.BODIES.head(body_key)) ? 1 : 0);
    expect(await objects()).toBe(1);

    await sweepAt(completed + 47 * 3600_000);
    expect((await api(result, { key })).status).toBe(200);
    expect(await objects()).toBe(1);

    setNow(completed + 48 * 3600_000 + 1);
    const gone = await api(result, { key });
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { detail: string }).detail).toMatch(/48 hours/);
    const listed = await allJobs(key, col.id, run.run_id);
    expect(listed[0].result_available).toBe(false);

    await sweepAt(completed + 50 * 3600_000);
    expect(await objects()).toBe(0);
    expect((await api(result, { key })).status).toBe(410);

    await sweepAt(Date.parse(run.completed_at!) + 89 * 24 * 3600_000);
    expect((await api(`/v1/async/collections/${col.id}/runs/${run.run_id}`, { key })).status).toBe(200);
    await sweepAt(Date.parse(run.completed_at!) + 90 * 24 * 3600_000 + 1);
    expect((await api(`/v1/async/collections/${col.id}/runs/${run.run_id}`, { key })).status).toBe(404);
    expect((await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs`, { key })).status).toBe(404);
    expect((await api(result, { key })).status).toBe(404);
    expect(
      ((await (await api(`/v1/async/collections/${col.id}/runs`, { key })).json()) as { total: number }).total,
    ).toBe(0);
  });
});
