/**
 * Driving the queue consumers directly, as the queue would: a batch built with createMessageBatch,
 * the Worker's own queue handler, and the per-message acks and retries it left (getQueueResult).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { insertRunWithJobs } from "../../src/db/runs";
import { runObject } from "../../src/do/objects";
import worker from "../../src/index";
import type { JobMessage } from "../../src/queue/messages";
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

/** The job messages of a run, built from D1 as the dispatcher builds them. */
export async function messagesOf(runId: string, tenant: string): Promise<JobMessage[]> {
  const { results } = await env.DB.prepare(
    "SELECT job_id, url, browser, spec FROM jobs WHERE run_id = ?1 ORDER BY job_id",
  )
    .bind(runId)
    .all<{ job_id: string; url: string; browser: number; spec: string }>();
  return results.map((r) => ({
    kind: "job",
    job_id: r.job_id,
    run_id: runId,
    tenant,
    url: r.url,
    browser: r.browser === 1,
    spec: JSON.parse(r.spec),
  }));
}

/**
 * A started run whose jobs are all still pending and enqueued nowhere: the run row, its jobs and
 * its Durable Object exist as POST /run makes them, but no message was sent, so only the batches a
 * test delivers run its jobs.
 */
export async function pendingRun(key: string, tenant: string, paths: string[]) {
  const col = await createCollection(
    key,
    paths.map((p, i) => ({ url: target(p), custom_id: `p${i}` })),
  );
  const run_id = crypto.randomUUID();
  const createdMs = Date.now();
  const created_at = new Date(createdMs).toISOString();
  const deadline = createdMs + 600_000;
  const inserted = await insertRunWithJobs(env.DB, {
    id: run_id,
    tenant,
    collection_id: col.id,
    created_at,
    deadline_at: new Date(deadline).toISOString(),
    job_prefix: crypto.randomUUID().slice(0, 24),
    cap: Number.MAX_SAFE_INTEGER,
  });
  if (inserted.kind === "over_cap") throw new Error("over the cap");
  const total = inserted.run.total_requests;
  await runObject(env as Env, run_id).start({
    run_id,
    tenant,
    collection_id: col.id,
    total,
    created_at_ms: createdMs,
    deadline_ms: deadline,
  });
  return { collection_id: col.id, run_id, created_at, messages: await messagesOf(run_id, tenant) };
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
