import { env, exports } from "cloudflare:workers";
import type { z } from "@hono/zod-openapi";
import { expect } from "vitest";
import type { Job, RunSummary as RunSummarySchema } from "../../src/schemas";

/** Calls the Worker under test over HTTP, as a client would. */
export async function api(path: string, init: RequestInit & { key?: string; json?: unknown } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  return (exports as unknown as { default: Fetcher }).default.fetch(
    new Request(`http://api.test${path}`, { ...init, headers, body }),
  );
}

export const ADMIN = "test-admin-token";
export const target = (path: string) => `${(env as unknown as { TARGET_ORIGIN: string }).TARGET_ORIGIN}${path}`;
/** The same target site on another host (127.0.0.3): where a request's headers and cookies must not go. */
export const second = (path: string) => `${(env as unknown as { SECOND_ORIGIN: string }).SECOND_ORIGIN}${path}`;

/** A fresh tenant with its own API key. */
export async function newTenant(
  name = `t-${crypto.randomUUID().slice(0, 8)}`,
): Promise<{ tenant: string; key: string; key_id: string }> {
  const res = await api("/v1/admin/keys", { method: "POST", key: ADMIN, json: { tenant: name } });
  expect(res.status).toBe(201);
  return (await res.json()) as { tenant: string; key: string; key_id: string };
}

export async function createCollection(
  key: string,
  requests: unknown[],
  extra: { name?: string; headers?: HeadersInit } = {},
) {
  const res = await api("/v1/async/collections", {
    method: "POST",
    key,
    json: { name: extra.name ?? "c", requests },
    headers: extra.headers,
  });
  const body = (await res.json()) as { id: string; total_requests: number; duplicates_skipped: number };
  if (res.status !== 201) throw new Error(`create failed ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** The API's own shapes, inferred from the schemas that validate and document them. */
export type RunSummary = z.infer<typeof RunSummarySchema>;
export type JobView = z.infer<typeof Job>;

export async function startRun(key: string, collectionId: string): Promise<RunSummary> {
  const res = await api(`/v1/async/collections/${collectionId}/run`, { method: "POST", key });
  const body = (await res.json()) as RunSummary;
  if (res.status !== 201) throw new Error(`run failed ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export async function getRun(key: string, collectionId: string, runId: string): Promise<RunSummary> {
  const res = await api(`/v1/async/collections/${collectionId}/runs/${runId}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as RunSummary;
}

/** Reads until `done` holds (every 100 ms, at most `ms`); past that, fails naming `what` and the last value. */
export async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v).slice(0, 2_000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the run until it is no longer in progress, as the seed's client does. */
export async function waitForRun(
  key: string,
  collectionId: string,
  runId: string,
  timeoutMs = 45_000,
): Promise<RunSummary> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(key, collectionId, runId);
    if (run.status !== "in_progress") return run;
    if (Date.now() > until) throw new Error(`run still in progress: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every job of a run, through the listing with cursors. */
export async function allJobs(
  key: string,
  collectionId: string,
  runId: string,
  query = "limit=500",
): Promise<JobView[]> {
  const out: JobView[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(
      `/v1/async/collections/${collectionId}/runs/${runId}/jobs?${query}${cursor ? `&cursor=${cursor}` : ""}`,
      { key },
    );
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: JobView[]; has_more: boolean; cursor_next: string | null };
    out.push(...page.items);
    cursor = page.has_more ? page.cursor_next : null;
  } while (cursor);
  return out;
}

/** Runs a collection of the given requests to completion and returns the run and its jobs. */
export async function runToCompletion(key: string, requests: unknown[]) {
  const col = await createCollection(key, requests);
  const started = await startRun(key, col.id);
  const run = await waitForRun(key, col.id, started.run_id);
  const jobs = await allJobs(key, col.id, started.run_id);
  return { col, run, jobs };
}
