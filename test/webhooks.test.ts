import { createExecutionContext, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { now, setNow } from "../src/clock";
import { RETRY_SOON_MS, type RunCoordinator } from "../src/do/run-coordinator";
import { pagelessOutcome } from "../src/domain";
import type { Delivery } from "../src/schemas";
import { signedHeaders } from "../src/webhooks/signing";
import { RETRY_DELAYS_S } from "../src/webhooks/schedule";
import worker from "../src/worker";
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
import { deliver, dropped, pendingRun, withObjectEnv } from "./support/queue";
import type { Received } from "./support/webhook-receiver";

afterEach(() => setNow(null));

const RECEIVER = (env as unknown as { RECEIVER_ORIGIN: string }).RECEIVER_ORIGIN;
const hookUrl = (key: string, script = "200") => `${RECEIVER}/hook/${key}?script=${script}`;
type DeliveryView = typeof Delivery._output;

async function received(hook: string): Promise<Received[]> {
  return (await (await fetch(`${RECEIVER}/received/${hook}`)).json()) as Received[];
}

/** The secrets the receiver verifies deliveries to `hook` with (one verdict per secret). */
async function verifyWith(hook: string, secrets: string[]) {
  const res = await fetch(`${RECEIVER}/secrets/${hook}`, { method: "PUT", body: JSON.stringify({ secrets }) });
  expect(res.status).toBe(204);
}

/** The standardwebhooks verifier's verdict on a delivery as given. */
async function verdict(secret: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${RECEIVER}/verify`, { method: "POST", body: JSON.stringify({ secret, body, headers }) });
  return (await res.json()) as { ok: boolean; error: string | null };
}

async function secretOf(key: string): Promise<{ secret: string; previous_valid_until: string | null }> {
  const res = await api("/v1/webhooks/secret", { key });
  expect(res.status).toBe(200);
  return (await res.json()) as { secret: string; previous_valid_until: string | null };
}

async function deliveries(key: string, colId: string, runId: string): Promise<DeliveryView[]> {
  const out: DeliveryView[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(
      `/v1/async/collections/${colId}/runs/${runId}/deliveries?limit=7${cursor ? `&cursor=${cursor}` : ""}`,
      { key },
    );
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: DeliveryView[]; has_more: boolean; cursor_next: string | null };
    out.push(...page.items);
    cursor = page.has_more ? page.cursor_next : null;
  } while (cursor);
  return out;
}

const settled = (ds: DeliveryView[]) => ds.length > 0 && ds.every((d) => d.status !== "pending");

async function webhookCollection(key: string, requests: unknown[], webhook: unknown, politeness?: unknown) {
  const json = { name: "hooked", requests, webhook, ...(politeness ? { politeness } : {}) };
  const res = await api("/v1/async/collections", { method: "POST", key, json });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

/**
 * One delivery attempt, as the webhook queue would make it, with the message's fate as the consumer
 * left it: acked, or retried after `delaySeconds` (what the queue would wait before the next).
 */
async function attemptOnce(message: unknown, on = env as Env): Promise<{ acked: boolean; delaySeconds?: number }> {
  const fates: { acked: boolean; delaySeconds?: number }[] = [];
  const msg = {
    id: "w0",
    timestamp: new Date(),
    attempts: 1,
    body: message,
    ack: () => fates.push({ acked: true }),
    retry: (o?: { delaySeconds?: number }) => fates.push({ acked: false, delaySeconds: o?.delaySeconds }),
  };
  const batch = { queue: "scrape-webhooks", messages: [msg], ackAll() {}, retryAll() {} } as unknown as MessageBatch;
  await (worker.queue as ExportedHandlerQueueHandler<Env, unknown>)(batch, on, createExecutionContext());
  expect(fates).toHaveLength(1);
  return fates[0];
}

/** Drives a delivery's queue retries, moving the clock by each retry's delay; returns the delays. */
async function driveRetries(message: unknown, on?: Env): Promise<number[]> {
  const delays: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await attemptOnce(message, on);
    if (r.acked) return delays;
    delays.push(r.delaySeconds!);
    setNow(now() + r.delaySeconds! * 1000);
  }
  throw new Error(`the delivery was still retried after 30 attempts: ${delays}`);
}

const within = (v: number, nominal: number, jitter = 0.2) =>
  v >= nominal * (1 - jitter) && v <= nominal * (1 + jitter) + 1;

describe("webhooks: delivery and retries", () => {
  it("500, 500, then 200: three attempts with one webhook-id, each verified, the delivery delivered", async () => {
    const { key, tenant } = await newTenant();
    const { secret } = await secretOf(key);
    const hook = crypto.randomUUID();
    await verifyWith(hook, [secret]);
    setNow(Date.now());
    const run = await pendingRun(key, tenant, ["/ok"], {
      webhook: { url: hookUrl(hook, "500,500,200"), events: ["run.completed"] },
      cancel: true,
    });
    expect(run.captured).toHaveLength(1);
    const delays = await driveRetries(run.captured[0]);

    const got = await received(hook);
    expect(got.map((g) => g.answered)).toEqual([500, 500, 200]);
    expect(new Set(got.map((g) => g.headers["webhook-id"])).size).toBe(1);
    expect(got.every((g) => g.verified[0] === true)).toBe(true);
    const [d, ...more] = await deliveries(key, run.collection_id, run.run_id);
    expect(more).toEqual([]);
    expect(d).toMatchObject({
      delivery_id: got[0].headers["webhook-id"],
      event: "run.completed",
      status: "delivered",
      attempts: 3,
      last_status_code: 200,
      last_error: null,
      next_attempt_at: null,
    });
    expect((await getRun(key, run.collection_id, run.run_id)).webhook).toEqual({ status: "delivered", attempts: 3 });
    // The first two steps of the schedule, with their jitter: about 30 s, then about 2 min.
    expect(delays).toHaveLength(2);
    expect(within(delays[0], RETRY_DELAYS_S[0])).toBe(true);
    expect(within(delays[1], RETRY_DELAYS_S[1])).toBe(true);
    console.log(`webhook retry delays measured (500, 500, 200): ${delays.join(" s, ")} s`);
  });

  it("a receiver that never answers: attempts on the schedule until 24 h after the first, then failed", async () => {
    const { key, tenant } = await newTenant();
    const hook = crypto.randomUUID();
    setNow(Date.now());
    const run = await pendingRun(key, tenant, ["/ok"], {
      webhook: { url: hookUrl(hook, "hang"), events: ["run.completed"] },
      cancel: true,
    });
    // Every attempt waits out the receiver's timeout, whatever its length: 500 ms here instead of the
    // suite's 2 s, for nine attempts (the last error shows this timeout was the one applied).
    const delays = await driveRetries(run.captured[0], { ...(env as Env), TEST_WEBHOOK_TIMEOUT_MS: "500" } as Env);

    const got = await received(hook);
    expect(got).toHaveLength(delays.length + 1);
    expect(new Set(got.map((g) => g.headers["webhook-id"])).size).toBe(1);
    const [d] = await deliveries(key, run.collection_id, run.run_id);
    expect(d).toMatchObject({ status: "failed", attempts: got.length, last_status_code: null, next_attempt_at: null });
    expect(d.last_error).toMatch(/no answer within 500 ms/);
    // Every delay is its step of the schedule (± 20 %) except the last, cut to end at 24 h.
    delays
      .slice(0, -1)
      .forEach((s, i) => expect(within(s, RETRY_DELAYS_S[Math.min(i, 6)]), `delay ${i}: ${s}`).toBe(true));
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(24 * 3600);
    expect(total).toBeLessThanOrEqual(24 * 3600 + delays.length);
    expect((await getRun(key, run.collection_id, run.run_id)).webhook).toEqual({
      status: "failed",
      attempts: got.length,
    });
    console.log(`webhook retry delays measured (no answer): ${delays.join(" s, ")} s; ${got.length} attempts`);
  }, 120_000);

  it("a redirect is a failed attempt (not followed); a dead-lettered message fails its delivery", async () => {
    const { key, tenant } = await newTenant();
    const hook = crypto.randomUUID();
    setNow(Date.now());
    const run = await pendingRun(key, tenant, ["/ok"], {
      webhook: { url: hookUrl(hook, "302,200"), events: ["run.completed"] },
      cancel: true,
    });
    expect(await attemptOnce(run.captured[0])).toMatchObject({ acked: false });
    const [d] = await deliveries(key, run.collection_id, run.run_id);
    expect(d).toMatchObject({ status: "pending", attempts: 1, last_status_code: 302 });
    expect(d.last_error).toMatch(/redirects are not followed/);
    expect(Date.parse(d.next_attempt_at!) - Date.parse(d.last_attempt_at!)).toBeGreaterThanOrEqual(24_000);

    // The queue gave up on the message (its retries spent): the dead-letter consumer fails the delivery.
    const fates: string[] = [];
    const msg = { id: "d0", body: run.captured[0], ack: () => fates.push("ack"), retry: () => fates.push("retry") };
    const batch = { queue: "scrape-webhooks-dlq", messages: [msg] } as unknown as MessageBatch;
    await (worker.queue as ExportedHandlerQueueHandler<Env, unknown>)(batch, env as Env, createExecutionContext());
    expect(fates).toEqual(["ack"]);
    const [failed] = await deliveries(key, run.collection_id, run.run_id);
    expect(failed).toMatchObject({ status: "failed", attempts: 1, next_attempt_at: null });
    expect(failed.last_error).toMatch(/outlived its retries/);
    expect(await received(hook)).toHaveLength(1);
  });

  it("delivers run.completed through the queue, signed, with the run's summary", async () => {
    const { key } = await newTenant();
    const { secret } = await secretOf(key);
    const hook = crypto.randomUUID();
    await verifyWith(hook, [secret]);
    const col = await webhookCollection(key, [{ url: target("/ok") }, { url: target("/status/404") }], {
      url: hookUrl(hook),
    });
    const started = await startRun(key, col.id);
    expect(started.webhook).toEqual({ status: "pending", attempts: 0 });
    const done = await waitForRun(key, col.id, started.run_id);
    const run = await until(
      "run.completed delivered",
      () => getRun(key, col.id, started.run_id),
      (r) => r.webhook?.status === "delivered",
    );
    expect(run.webhook).toEqual({ status: "delivered", attempts: 1 });
    const [got, ...more] = await received(hook);
    expect(more).toEqual([]);
    expect(got.verified).toEqual([true]);
    expect(got.headers["content-type"]).toMatch(/^application\/json/);
    expect(got.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const { webhook: _omitted, ...summary } = done;
    expect(JSON.parse(got.body)).toEqual({ type: "run.completed", timestamp: done.completed_at, data: summary });
    const [d] = await deliveries(key, col.id, started.run_id);
    expect(d).toMatchObject({ delivery_id: got.headers["webhook-id"], status: "delivered", url: hookUrl(hook) });

    // The verifier refuses a tampered body, and an old timestamp even when correctly signed.
    expect(await verdict(secret, got.body, got.headers)).toEqual({ ok: true, error: null });
    const tampered = got.body.replace('"success_requests":1', '"success_requests":2');
    expect(tampered).not.toBe(got.body);
    expect((await verdict(secret, tampered, got.headers)).ok).toBe(false);
    const old = Math.floor(Date.now() / 1000) - 600;
    const oldHeaders = await signedHeaders([secret], got.headers["webhook-id"], old, got.body);
    expect(await verdict(secret, got.body, oldHeaders)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/too old/),
    });
    const fresh = await signedHeaders([secret], got.headers["webhook-id"], Math.floor(Date.now() / 1000), got.body);
    expect((await verdict(secret, got.body, fresh)).ok).toBe(true);
  });

  it("rotation: both secrets sign for 24 h, then only the new one; redeliver keeps the webhook-id", async () => {
    const { key } = await newTenant();
    const before = await secretOf(key);
    setNow(Date.now());
    const rotated = await api("/v1/webhooks/secret/rotate", { method: "POST", key });
    expect(rotated.status).toBe(200);
    const after = (await rotated.json()) as { secret: string; previous_valid_until: string };
    expect(after.secret).not.toBe(before.secret);
    expect(Date.parse(after.previous_valid_until)).toBe(now() + 24 * 3600_000);
    expect(await secretOf(key)).toEqual(after);
    const hook = crypto.randomUUID();
    await verifyWith(hook, [before.secret, after.secret]);
    const col = await webhookCollection(key, [{ url: target("/ok") }], { url: hookUrl(hook) });
    const started = await startRun(key, col.id);
    await until(
      "delivered",
      () => getRun(key, col.id, started.run_id),
      (r) => r.webhook?.status === "delivered",
    );
    const [first] = await received(hook);
    expect(first.headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(first.verified).toEqual([true, true]);

    setNow(now() + 24 * 3600_000 + 1000);
    expect(await secretOf(key)).toEqual({ secret: after.secret, previous_valid_until: null });
    const id = first.headers["webhook-id"];
    const again = await api(`/v1/async/collections/${col.id}/runs/${started.run_id}/deliveries/${id}/redeliver`, {
      method: "POST",
      key,
    });
    expect(again.status).toBe(202);
    expect(((await again.json()) as DeliveryView).delivery_id).toBe(id);
    const [, second] = await until(
      "redelivered",
      () => received(hook),
      (r) => r.length === 2,
    );
    expect(second.headers["webhook-id"]).toBe(id);
    expect(second.headers["webhook-signature"].split(" ")).toHaveLength(1);
    expect(second.verified).toEqual([false, true]);
    const [d] = await until(
      "two attempts logged",
      () => deliveries(key, col.id, started.run_id),
      (ds) => ds[0]?.attempts === 2,
    );
    expect(d).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("a delivery whose queue send failed is sent by the run's alarm", async () => {
    const { key, tenant } = await newTenant();
    const hook = crypto.randomUUID();
    const down = async () => {
      throw new Error("queue unavailable");
    };
    const run = await pendingRun(key, tenant, ["/ok"], {
      webhook: { url: hookUrl(hook), events: ["run.completed"] },
      cancel: true,
      webhooks: { send: down, sendBatch: down } as unknown as Queue,
    });
    const [d] = await deliveries(key, run.collection_id, run.run_id);
    expect(d).toMatchObject({ status: "pending", attempts: 0 });
    expect(await received(hook)).toEqual([]);
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    // The ended run's alarm is armed for the retry, not left to its retention.
    const alarm = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(alarm).toBeLessThanOrEqual(Date.now() + RETRY_SOON_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const [sent] = await until("delivered", () => deliveries(key, run.collection_id, run.run_id), settled);
    expect(sent).toMatchObject({ delivery_id: d.delivery_id, status: "delivered", attempts: 1 });
    expect((await received(hook)).map((g) => g.headers["webhook-id"])).toEqual([d.delivery_id]);
  });

  it("duplicate completion reports make one run.completed", async () => {
    const { key, tenant } = await newTenant();
    const hook = crypto.randomUUID();
    const run = await pendingRun(key, tenant, ["/ok", "/page/1"], {
      webhook: { url: hookUrl(hook), events: ["run.completed"] },
    });
    // The same outcomes twice at once, a dead letter of each, then a cancel of the ended run.
    await Promise.all([deliver(run.messages), deliver(run.messages)]);
    await deliver(run.messages, env as Env, "scrape-jobs-dlq");
    const cancel = await api(`/v1/async/collections/${run.collection_id}/runs/${run.run_id}/cancel`, {
      method: "POST",
      key,
    });
    expect(((await cancel.json()) as RunSummary).status).toBe("completed");
    const ds = await until("settled", () => deliveries(key, run.collection_id, run.run_id), settled);
    expect(ds.map((d) => [d.event, d.status])).toEqual([["run.completed", "delivered"]]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await received(hook)).map((g) => (JSON.parse(g.body) as { type: string }).type)).toEqual(["run.completed"]);
  });
});

describe("webhooks: job.completed", () => {
  it("sends a recorded batch's delivery before arming the alarm, which then has no reason to come soon", async () => {
    const { key, tenant } = await newTenant();
    const hook = crypto.randomUUID();
    const run = await pendingRun(key, tenant, ["/ok?n=1", "/ok?n=2", "/ok?n=3"], {
      webhook: { url: hookUrl(hook), events: ["job.completed"] },
    });
    const sent: unknown[] = [];
    const capture = { sendBatch: async (b: unknown[]) => void sent.push(...b) } as unknown as Queue;
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    const before = Date.now();
    const alarm = await runInDurableObject(stub, (instance: RunCoordinator, state) =>
      withObjectEnv(
        instance,
        () => ({ JOBS: dropped, BROWSER_JOBS: dropped, WEBHOOKS: capture }),
        async () => {
          // One of three jobs ends: the run goes on, and its job.completed delivery is written.
          const o = { ...pagelessOutcome(run.messages[0].job_id, "completed", 1, ""), error: null, status_code: 200 };
          await instance.record({ outcomes: [{ ...o, fetch_ms: 10 }] });
          return state.storage.getAlarm();
        },
      ),
    );
    expect(sent).toHaveLength(1);
    // Before, the refill armed it RETRY_SOON_MS ahead for the delivery it had not sent yet: a billed
    // alarm and a D1 sync for every batch of such a run.
    expect(alarm === null || alarm > before + 2 * RETRY_SOON_MS).toBe(true);
  });

  it("coalesces finished jobs (≤ 100 per delivery), every job exactly once, as the listing shows it", async () => {
    const { key } = await newTenant();
    const { secret } = await secretOf(key);
    const hook = crypto.randomUUID();
    await verifyWith(hook, [secret]);
    const requests = Array.from({ length: 250 }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `p${i}` }));
    // All on one host: 50 in flight to it (the API's most), so the run goes at the consumers' pace rather
    // than the default politeness of 6, and finished jobs still outnumber one delivery's 100.
    const col = await webhookCollection(
      key,
      requests,
      { url: hookUrl(hook), events: ["job.completed", "run.completed"] },
      { per_host_concurrency: 50 },
    );
    const started = await startRun(key, col.id);
    await waitForRun(key, col.id, started.run_id, 60_000);
    const ds = await until("settled", () => deliveries(key, col.id, started.run_id), settled, 60_000);
    expect(ds.every((d) => d.status === "delivered")).toBe(true);
    const jobDeliveries = ds.filter((d) => d.event === "job.completed");
    expect(ds.filter((d) => d.event === "run.completed")).toHaveLength(1);
    expect(jobDeliveries.reduce((n, d) => n + (d.job_count ?? 0), 0)).toBe(250);

    const all = (await received(hook)).filter((g) => (JSON.parse(g.body) as { type: string }).type === "job.completed");
    expect(all.every((g) => g.verified[0] === true)).toBe(true);
    // At least once: an attempt the receiver got but answered too late for the consumer comes again
    // with the same webhook-id, which is what a receiver deduplicates on; one receipt per id counts.
    const got = [...new Map(all.map((g) => [g.headers["webhook-id"], g])).values()];
    expect(got.map((g) => g.headers["webhook-id"]).sort()).toEqual(jobDeliveries.map((d) => d.delivery_id).sort());
    const listed = new Map((await allJobs(key, col.id, started.run_id)).map((j) => [j.job_id, j]));
    const seen: string[] = [];
    for (const g of got) {
      const body = JSON.parse(g.body) as { data: { run_id: string; collection_id: string; jobs: JobView[] } };
      expect(body.data).toMatchObject({ run_id: started.run_id, collection_id: col.id });
      expect(body.data.jobs.length).toBeGreaterThan(0);
      expect(body.data.jobs.length).toBeLessThanOrEqual(100);
      for (const j of body.data.jobs) {
        expect(j).toEqual(listed.get(j.job_id));
        seen.push(j.job_id);
      }
    }
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
  }, 120_000);

  it("250 jobs ended at once (a cancel) go out as 100, 100 and 50, every job once", async () => {
    const { key, tenant } = await newTenant();
    const paths = Array.from({ length: 250 }, (_, i) => `/page/${i}`);
    const run = await pendingRun(key, tenant, paths, {
      webhook: { url: hookUrl(crypto.randomUUID()), events: ["job.completed"] },
      cancel: true,
    });
    expect(run.captured).toHaveLength(3);
    const ds = await deliveries(key, run.collection_id, run.run_id);
    expect(ds.map((d) => [d.event, d.job_count])).toEqual([
      ["job.completed", 100],
      ["job.completed", 100],
      ["job.completed", 50],
    ]);
    // Its webhook does not take run.completed, so the run has no webhook status to show.
    expect((await getRun(key, run.collection_id, run.run_id)).webhook).toBeNull();
  });
});

describe("webhooks: configuration and the URL guard", () => {
  it("refuses a webhook URL the guard forbids with 422 naming it, and creates nothing", async () => {
    const { key } = await newTenant();
    const bad = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "x", requests: [{ url: target("/ok") }], webhook: { url: "http://169.254.169.254/latest" } },
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { errors: { path: string }[] }).errors[0].path).toBe("webhook.url");
    expect(((await (await api("/v1/async/collections", { key })).json()) as { total: number }).total).toBe(0);

    const events = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "x", requests: [{ url: target("/ok") }], webhook: { url: hookUrl("x"), events: ["run.started"] } },
    });
    expect(events.status).toBe(422);
    expect(((await events.json()) as { errors: { path: string }[] }).errors[0].path).toBe("webhook.events[0]");

    const col = await createCollection(key, [{ url: target("/ok") }]);
    const run = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      json: { webhook: { url: "http://10.0.0.1/hook" } },
    });
    expect(run.status).toBe(422);
    expect(((await run.json()) as { errors: { path: string }[] }).errors[0].path).toBe("webhook.url");
    const runs = (await (await api(`/v1/async/collections/${col.id}/runs`, { key })).json()) as { total: number };
    expect(runs.total).toBe(0);
    const put = await api(`/v1/async/collections/${col.id}`, {
      method: "PUT",
      key,
      json: { requests: [{ url: target("/ok") }], webhook: { url: "http://192.168.1.1/x" } },
    });
    expect(put.status).toBe(422);
  });

  it("a webhook URL that becomes refused fails its delivery without reaching it", async () => {
    const { key } = await newTenant();
    const hits = async () =>
      (await (await fetch(target("/refused/hits"))).json()) as { origin: string; requests: string[] };
    const hook = crypto.randomUUID();
    // 127.0.0.2 passes the guard at create (loopback, allowed locally); TEST_REFUSED_HOSTS refuses it
    // at every attempt, as a host that came to resolve to a private address would be.
    const url = `${(await hits()).origin}/hook/${hook}`;
    const col = await webhookCollection(key, [{ url: target("/ok") }], { url });
    const started = await startRun(key, col.id);
    const [d] = await until("settled", () => deliveries(key, col.id, started.run_id), settled);
    expect(d).toMatchObject({ status: "failed", attempts: 1, last_status_code: null });
    expect(d.last_error).toMatch(/refused/);
    expect((await hits()).requests.filter((r) => r.includes(hook))).toEqual([]);
  });

  it("a run's own webhook replaces the collection's; GET shows it, PUT null removes it", async () => {
    const { key } = await newTenant();
    const [a, b] = [crypto.randomUUID(), crypto.randomUUID()];
    const col = await webhookCollection(key, [{ url: target("/ok") }], { url: hookUrl(a) });
    const shown = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as { webhook: unknown };
    expect(shown.webhook).toEqual({ url: hookUrl(a), events: ["run.completed"] });
    const res = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      json: { webhook: { url: hookUrl(b) } },
    });
    expect(res.status).toBe(201);
    const started = (await res.json()) as RunSummary;
    await until(
      "delivered",
      () => getRun(key, col.id, started.run_id),
      (r) => r.webhook?.status === "delivered",
    );
    expect(await received(a)).toEqual([]);
    expect(await received(b)).toHaveLength(1);

    const put = await api(`/v1/async/collections/${col.id}`, {
      method: "PUT",
      key,
      json: { requests: [{ url: target("/ok") }], webhook: null },
    });
    expect(put.status).toBe(200);
    const cleared = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as { webhook: unknown };
    expect(cleared.webhook).toBeNull();
    const plain = await startRun(key, col.id);
    expect(plain.webhook).toBeNull();
  });

  it("another tenant's delivery log and redeliver answer 404", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const col = await webhookCollection(owner.key, [{ url: target("/ok") }], { url: hookUrl(crypto.randomUUID()) });
    const started = await startRun(owner.key, col.id);
    const [d] = await until("settled", () => deliveries(owner.key, col.id, started.run_id), settled);
    const base = `/v1/async/collections/${col.id}/runs/${started.run_id}/deliveries`;
    expect((await api(base, { key: other.key })).status).toBe(404);
    expect((await api(`${base}/${d.delivery_id}/redeliver`, { method: "POST", key: other.key })).status).toBe(404);
    expect((await api(`${base}/${crypto.randomUUID()}/redeliver`, { method: "POST", key: owner.key })).status).toBe(
      404,
    );
  });

  it("documents both events in the OpenAPI 3.1 webhooks section", async () => {
    const doc = (await (await api("/v1/openapi.json")).json()) as {
      webhooks: Record<string, { post: { operationId: string } }>;
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    expect(doc.webhooks["run.completed"].post.operationId).toBe("runCompletedWebhook");
    expect(doc.webhooks["job.completed"].post.operationId).toBe("jobCompletedWebhook");
    const runs = "/v1/async/collections/{id}/runs/{run_id}";
    expect(doc.paths[`${runs}/deliveries`].get.operationId).toBe("listDeliveries");
    expect(doc.paths[`${runs}/deliveries/{delivery_id}/redeliver`].post.operationId).toBe("redeliverWebhook");
    expect(doc.paths["/v1/webhooks/secret"].get.operationId).toBe("getWebhookSecret");
    expect(doc.paths["/v1/webhooks/secret/rotate"].post.operationId).toBe("rotateWebhookSecret");
  });
});
