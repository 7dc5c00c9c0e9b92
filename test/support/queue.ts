/**
 * Driving the queue consumers directly, as the queue would: a batch built with createMessageBatch,
 * the Worker's own queue handler, and the per-message acks and retries it left (getQueueResult).
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { now } from "../../src/clock";
import { insertRun } from "../../src/db/runs";
import { type RunCoordinator, startOf } from "../../src/do/run-coordinator";
import type { JobMessage } from "../../src/domain";
import worker from "../../src/worker";
import { createCollection, target } from "./api";

export interface Delivered {
  /** What the handler threw (it settles every message first), or null. */
  error: unknown;
  acked: string[];
  retried: string[];
}

/** Delivers bodies (of any shape) to the Worker's queue handler; ids are "m0", "m1", … in order. */
export async function deliver(bodies: unknown[], e: Env = env as Env, queue = "scrape-jobs"): Promise<Delivered> {
  const batch = createMessageBatch<unknown>(
    queue,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  let error: unknown = null;
  try {
    await (worker.queue as ExportedHandlerQueueHandler<Env, unknown>)(batch, e, ctx);
  } catch (err) {
    error = err;
  }
  const result = await getQueueResult(batch, ctx);
  expect(result.retryBatch.retry).toBe(false);
  expect(result.ackAll).toBe(false);
  return { error, acked: [...result.explicitAcks].sort(), retried: result.retryMessages.map((m) => m.msgId).sort() };
}

/** The job messages of a run, rebuilt from its object's job store as a release builds them. */
export async function messagesOf(runId: string, tenant: string): Promise<JobMessage[]> {
  return runInDurableObject(env.RUNS.get(env.RUNS.idFromName(runId)), (_i, state) =>
    state.storage.sql
      .exec<{ seq: number; url: string; browser: number; spec: string; prefix: string }>(
        "SELECT seq, url, browser, spec, (SELECT job_prefix FROM run) AS prefix FROM jobs ORDER BY seq",
      )
      .toArray()
      .map((r) => ({
        kind: "job" as const,
        job_id: `${r.prefix}${r.seq.toString(16).padStart(12, "0")}`,
        run_id: runId,
        tenant,
        url: r.url,
        browser: r.browser === 1,
        spec: JSON.parse(r.spec),
        attempt: 1,
        released_ms: Date.now(),
      })),
  );
}

/** A queue binding that drops whatever is sent to it. */
export const dropped = { sendBatch: async () => undefined, send: async () => undefined } as unknown as Queue;

/**
 * A run of the given pages whose row and object exist as POST /run makes them, but whose released
 * jobs went to a queue that dropped them, so only the batches a test delivers run its jobs. With
 * `cancel`, it is cancelled at once and its webhook's delivery messages are captured (returned as
 * `captured`), so the test drives every attempt of them itself; `webhooks` replaces that queue.
 */
export async function pendingRun(
  key: string,
  tenant: string,
  paths: string[],
  o: {
    politeness?: { per_host_concurrency?: number; per_host_delay_ms?: number };
    webhook?: { url: string; events: string[] };
    cancel?: boolean;
    webhooks?: Queue;
  } = {},
) {
  const col = await createCollection(
    key,
    paths.map((p, i) => ({ url: target(p), custom_id: `p${i}` })),
  );
  const run_id = crypto.randomUUID();
  const created_at = new Date(now()).toISOString();
  const inserted = await insertRun(env.DB, {
    id: run_id,
    tenant,
    collection_id: col.id,
    created_at,
    cap: Number.MAX_SAFE_INTEGER,
    politeness: o.politeness,
    webhook: o.webhook ? JSON.stringify(o.webhook) : undefined,
  });
  if (inserted.kind === "over_cap") throw new Error("over the cap");
  const captured: unknown[] = [];
  const capture = {
    sendBatch: async (b: { body: unknown }[]) => void captured.push(...b.map((m) => m.body)),
    send: async (b: unknown) => void captured.push(b),
  } as unknown as Queue;
  const webhooks = o.webhooks ?? (o.cancel ? capture : undefined);
  const bindings = { JOBS: dropped, BROWSER_JOBS: dropped, ...(webhooks ? { WEBHOOKS: webhooks } : {}) };
  await runInDurableObject(env.RUNS.get(env.RUNS.idFromName(run_id)), (instance: RunCoordinator) =>
    withObjectEnv(
      instance,
      () => bindings,
      async () => {
        await instance.start(startOf(inserted.run, { browser_total: 0, tenant_runs: 1 }));
        if (o.cancel) await instance.cancel(tenant);
      },
    ),
  );
  return { collection_id: col.id, run_id, created_at, captured, messages: await messagesOf(run_id, tenant) };
}

/** The env with one binding method replaced; everything else is the real binding. */
export function withFault<K extends keyof Env>(key: K, override: Record<string, unknown>): Env {
  const real = (env as Env)[key] as object;
  const proxy = new Proxy(real, {
    get(t, prop) {
      if (typeof prop === "string" && prop in override) return override[prop];
      const v = Reflect.get(t, prop);
      return typeof v === "function" ? v.bind(t) : v;
    },
  });
  return { ...(env as Env), [key]: proxy } as Env;
}

/**
 * Runs `fn` while the run object's env has some bindings replaced (one that fails, or drops what it
 * is given), then puts the real ones back: a fault injected at the object's own binding boundary.
 */
export async function withObjectEnv<T>(
  instance: RunCoordinator,
  patch: (real: Env) => Partial<Env>,
  fn: () => Promise<T>,
): Promise<T> {
  const holder = instance as unknown as { env: Env };
  const real = holder.env;
  holder.env = { ...real, ...patch(real) } as Env;
  try {
    return await fn();
  } finally {
    holder.env = real;
  }
}
