/**
 * Idempotency-Key leases, with real D1 and Durable Objects. An attempt that "dies" is its
 * Idempotency-Key record begun with nothing after; faults are injected at the binding boundary,
 * by handing the Worker an env whose Durable Object fails.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../src/auth";
import { now, setNow } from "../src/clock";
import { LIMITS } from "../src/config";
import { idempotencyObject } from "../src/do/objects";
import worker from "../src/index";
import { api, newTenant, target } from "./support/api";

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

const countRows = async (table: "collections", tenant: string) =>
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
});
