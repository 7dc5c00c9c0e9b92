/**
 * Idempotency-Key leases and the all-or-nothing start of a run, with real D1, Queues and Durable
 * Objects. An attempt that "dies" is its Idempotency-Key record begun (and for a run, its rows
 * written) with nothing after; faults are injected at the binding boundary, by handing the Worker
 * an env whose Durable Object or queue fails.
 */
import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../src/http/middleware/auth";
import { iso, now, setNow } from "../src/clock";
import { LIMITS } from "../src/config";
import { insertRun } from "../src/db/runs";
import { type RunCoordinator, startOf } from "../src/do/run-coordinator";
import { idempotencyObject } from "../src/do/objects";
import worker from "../src/worker";
import { withObjectEnv } from "./support/queue";
import { allJobs, api, createCollection, newTenant, target, waitForRun, type RunSummary } from "./support/api";

afterEach(() => setNow(null));

type Init = { method?: string; key: string; json?: unknown; headers?: Record<string, string> };

/** The Worker's fetch handler called with another env, as api() calls it with the real one. */
async function apiWith(e: Env, path: string, init: Init): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${init.key}`);
  let body: string | undefined;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const ctx = createExecutionContext();
  const req = new Request(`http://api.test${path}`, { method: init.method, headers, body });
  const res = await worker.fetch(req as Parameters<typeof worker.fetch>[0], e, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const bound = (target: object, prop: PropertyKey) => {
  const v = Reflect.get(target, prop);
  return typeof v === "function" ? v.bind(target) : v;
};

/**
 * A Durable Object namespace whose objects fail `method` while `fails()` says so (after `seen`
 * has looked at the arguments), as an unreachable or overloaded object would.
 */
function failing<T extends Rpc.DurableObjectBranded>(
  ns: DurableObjectNamespace<T>,
  method: string,
  fails: () => boolean,
  seen: (args: unknown[]) => void = () => undefined,
): DurableObjectNamespace<T> {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop !== "get") return bound(target, prop);
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(s, p) {
            const v = Reflect.get(s, p);
            // A stub's methods are RPC proxies: called through Reflect.apply, never .bind().
            if (typeof v !== "function" || typeof p === "symbol") return v;
            if (p !== method) return (...args: unknown[]) => Reflect.apply(v, s, args);
            return async (...args: unknown[]) => {
              seen(args);
              if (fails()) throw new Error(`injected ${method} failure`);
              return Reflect.apply(v, s, args);
            };
          },
        });
      };
    },
  });
}

const once = () => {
  let failed = false;
  return () => !failed && (failed = true);
};

const countRows = async (table: "runs" | "jobs" | "collections", tenant: string) =>
  (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE tenant = ?1`).bind(tenant).first<{ n: number }>())!.n;

const afterLease = () => setNow(Date.now() + LIMITS.idempotencyLeaseMs + 1_000);

describe("an Idempotency-Key whose request died", () => {
  it("201 when the response cannot be stored; a retry waits out the lease, then gets that collection", async () => {
    const { key, tenant } = await newTenant();
    const k = crypto.randomUUID();
    const json = { name: "once", requests: [{ url: target("/ok") }, { url: target("/page/1") }] };
    const post = { method: "POST", key, json, headers: { "idempotency-key": k } };
    const noStore = { ...env, IDEMPOTENCY: failing(env.IDEMPOTENCY, "complete", () => true) } as Env;
    const first = await apiWith(noStore, "/v1/async/collections", post);
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };

    // Nothing was stored, so the key is still held: a retry within the lease is told to wait.
    const during = await api("/v1/async/collections", post);
    expect(during.status).toBe(409);
    expect(Number(during.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    afterLease();
    const retry = await api("/v1/async/collections", post);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(((await retry.json()) as { id: string }).id).toBe(id);
    const replay = await api("/v1/async/collections", post);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { id: string }).id).toBe(id);
    expect(await countRows("collections", tenant)).toBe(1);
  });

  it("died before creating anything: the retry after the lease creates under the reserved id", async () => {
    const { key, tenant } = await newTenant();
    const k = crypto.randomUUID();
    const json = { name: "reserved", requests: [{ url: target("/ok") }] };
    const post = { method: "POST", key, json, headers: { "idempotency-key": k } };
    const reserved = crypto.randomUUID();
    const fingerprint = await sha256Hex(`POST /v1/async/collections\n${JSON.stringify(json)}`);
    const begun = await idempotencyObject(env, tenant, k).begin(fingerprint, now(), reserved);
    expect(begun).toMatchObject({ state: "new", resourceId: reserved });

    expect((await api("/v1/async/collections", post)).status).toBe(409);
    afterLease();
    const retry = await api("/v1/async/collections", post);
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as { id: string }).id).toBe(reserved);
    expect(await countRows("collections", tenant)).toBe(1);
  });

  it("POST /run: a retry after the lease starts the run a dead attempt wrote but never started, once", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 3 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const path = `/v1/async/collections/${col.id}/run`;
    const k = crypto.randomUUID();
    const reserved = crypto.randomUUID();
    await idempotencyObject(env, tenant, k).begin(await sha256Hex(`POST ${path}\n`), now(), reserved);
    // The dead attempt wrote the run's row, then died before starting its object.
    const written = await insertRun(env.DB, {
      id: reserved,
      tenant,
      collection_id: col.id,
      created_at: iso(now()),
      cap: 1_000,
    });
    expect(written.kind).toBe("created");

    expect((await api(path, { method: "POST", key, headers: { "idempotency-key": k } })).status).toBe(409);
    afterLease();
    const retry = await api(path, { method: "POST", key, headers: { "idempotency-key": k } });
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as RunSummary).run_id).toBe(reserved);
    const done = await waitForRun(key, col.id, reserved);
    expect(done).toMatchObject({ status: "completed", total_requests: 3, success_requests: 3 });
    expect(await allJobs(key, col.id, reserved)).toHaveLength(3);
    expect(await countRows("runs", tenant)).toBe(1);
  });

  it("POST /run: 201 when the response cannot be stored; the retry after the lease answers that run", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 5 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const path = `/v1/async/collections/${col.id}/run`;
    const post = { method: "POST", key, headers: { "idempotency-key": crypto.randomUUID() } };
    const noStore = { ...env, IDEMPOTENCY: failing(env.IDEMPOTENCY, "complete", () => true) } as Env;
    const first = await apiWith(noStore, path, post);
    expect(first.status).toBe(201);
    const { run_id } = (await first.json()) as RunSummary;

    expect((await api(path, post)).status).toBe(409);
    afterLease();
    const retry = await api(path, post);
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as RunSummary).run_id).toBe(run_id);
    const done = await waitForRun(key, col.id, run_id);
    expect(done).toMatchObject({ status: "completed", total_requests: 5, success_requests: 5 });
    expect(await allJobs(key, col.id, run_id)).toHaveLength(5);
    expect(await countRows("runs", tenant)).toBe(1);
  });
});

describe("POST /run starts a run fully or leaves nothing behind", () => {
  it("the run's Durable Object failing to start: 5xx, no run left; the retry with the key starts it", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 4 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const path = `/v1/async/collections/${col.id}/run`;
    const post = { method: "POST", key, headers: { "idempotency-key": crypto.randomUUID() } };
    let attempted = "";
    const seen = (args: unknown[]) => void (attempted = (args[0] as { run_id: string }).run_id);
    const res = await apiWith({ ...env, RUNS: failing(env.RUNS, "start", once(), seen) } as Env, path, post);
    expect(res.status).toBe(500);
    expect(attempted).not.toBe("");
    expect(await countRows("runs", tenant)).toBe(0);
    expect((await api(`${path.replace(/run$/, "runs")}/${attempted}`, { key })).status).toBe(404);

    const retry = await api(path, post);
    expect(retry.status).toBe(201);
    const { run_id } = (await retry.json()) as RunSummary;
    expect(run_id).toBe(attempted);
    expect(await waitForRun(key, col.id, run_id)).toMatchObject({ status: "completed", success_requests: 4 });
    expect(await countRows("runs", tenant)).toBe(1);
  });

  it("the first jobs failing to enqueue: the run starts, its jobs stay pending unspent, and its alarm sends them", async () => {
    const { key, tenant } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 4 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const run_id = crypto.randomUUID();
    const created_at = iso(now());
    const inserted = await insertRun(env.DB, { id: run_id, tenant, collection_id: col.id, created_at, cap: 1e9 });
    expect(inserted.kind).toBe("created");
    if (inserted.kind === "over_cap") return;
    const stub = env.RUNS.get(env.RUNS.idFromName(run_id));
    await runInDurableObject(stub, async (instance: RunCoordinator, state) => {
      const refuse = () => Promise.reject(new Error("injected queue failure"));
      await withObjectEnv(
        instance,
        (real) => ({ JOBS: new Proxy(real.JOBS, { get: (q, p) => (p === "sendBatch" ? refuse : bound(q, p)) }) }),
        () => instance.start(startOf(inserted.run, { browser_total: 0, tenant_runs: 1 })),
      );
      const jobs = state.storage.sql
        .exec<{ status: string; attempts: number }>("SELECT status, attempts FROM jobs")
        .toArray();
      expect(jobs).toEqual(Array.from({ length: 4 }, () => ({ status: "pending", attempts: 0 })));
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const done = await waitForRun(key, col.id, run_id);
    expect(done).toMatchObject({ status: "completed", success_requests: 4 });
    for (const j of await allJobs(key, col.id, run_id)) expect(j.attempts).toBe(1);
  });
});
