/** Failed authentication is limited per client address, before any key lookup; admin tokens must be long. */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { adminTokenProblem, clientBucket } from "../src/http/middleware/auth";
import worker from "../src/worker";
import { usage } from "../src/metrics";
import { newTenant } from "./support/api";

/** The Worker with its operation counters on, so a D1 read shows in `usage`. */
const counted = { ...env, BENCH_METRICS: "true" } as Env;

function call(e: Env, ip: string, key: string, path = "/v1/async/collections", init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  headers.set("cf-connecting-ip", ip);
  const request = new Request(`http://api.test${path}`, { ...init, headers });
  return worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, e, createExecutionContext());
}

const octet = () => Math.floor(Math.random() * 256);
/** Fresh client addresses, so no test inherits another's failures. */
const randomIp = () => `10.${octet()}.${octet()}.${octet()}`;
const randomV6 = () => `2001:db8:${(octet() << 8) | octet()}:${((octet() << 8) | octet()).toString(16)}`;

/** Sends bad credentials from `ip` until a 429; returns the 401s before it and the 429. */
async function failUntilLimited(ip: string, path = "/v1/async/collections", init: RequestInit = {}) {
  let unauthorized = 0;
  // The window holds 10 failures; windows are aligned to the clock, so up to twice that may pass.
  for (let i = 0; i < 25; i++) {
    const res = await call(counted, ip, `sk_wrong_${i}`, path, init);
    if (res.status === 429) return { unauthorized, limited: res };
    expect(res.status).toBe(401);
    unauthorized++;
  }
  throw new Error(`${ip} was never limited`);
}

describe("failed authentication", () => {
  it("answers 429 to an address after 10 failures, without a D1 read, and only to that address", async () => {
    const { key } = await newTenant();
    const limitedIp = randomIp();
    const { unauthorized, limited } = await failUntilLimited(limitedIp);
    expect(unauthorized).toBeGreaterThanOrEqual(10);
    expect(limited.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await limited.json()) as { detail: string }).detail).toMatch(/failed authentications/);

    // Once limited, the address is refused before its key is looked up: no D1 statement runs,
    // whether the key it sends is wrong or right.
    const before = usage.d1_statements;
    for (const k of ["sk_wrong_again", key, "sk_wrong_once_more"]) {
      const res = await call(counted, limitedIp, k);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(usage.d1_statements).toBe(before);

    // Another address is not limited: its bad key is looked up (and refused), its good key works.
    const other = randomIp();
    expect(other).not.toBe(limitedIp);
    expect((await call(counted, other, "sk_wrong")).status).toBe(401);
    expect(usage.d1_statements).toBeGreaterThan(before);
    expect((await call(counted, other, key)).status).toBe(200);
  });

  it("counts an IPv6 client by its /64, and wrong admin tokens like wrong keys", async () => {
    const prefix = randomV6();
    const { limited } = await failUntilLimited(`${prefix}::1`, "/v1/admin/keys", { method: "POST", body: "{}" });
    expect(limited.status).toBe(429);
    // Another address in the same /64 is the same client, even with the right admin token.
    const sameNet = await call(counted, `${prefix}:0:ffff:1234:5`, "test-admin-token", "/v1/admin/keys", {
      method: "POST",
      body: JSON.stringify({ tenant: "x" }),
      headers: { "content-type": "application/json" },
    });
    expect(sameNet.status).toBe(429);
    const elsewhere = await call(counted, `${randomV6()}::1`, "test-admin-token", "/v1/admin/keys", {
      method: "POST",
      body: JSON.stringify({ tenant: "y" }),
      headers: { "content-type": "application/json" },
    });
    expect(elsewhere.status).toBe(201);
  });

  it.each([
    [undefined, "no-client-address"],
    ["", "no-client-address"],
    ["203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:DB8:1:2::6", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:0db8:0001:0002:ffff::", "2001:db8:1:2::/64"],
    ["::1", "0:0:0:0::/64"],
  ])("client bucket of %j is %j", (ip, bucket) => {
    expect(clientBucket(ip)).toBe(bucket);
  });
});

describe("admin token", () => {
  const long = "a".repeat(32);

  it.each([
    [{ ADMIN_TOKEN: "short-token", LOCAL_DEV: "false" }, /shorter than 32 characters/],
    [{ ADMIN_TOKEN: "a".repeat(31), LOCAL_DEV: "false" }, /shorter than 32 characters/],
    [{ ADMIN_TOKEN: "", LOCAL_DEV: "false" }, /no admin token/],
    [{ ADMIN_TOKEN: "", LOCAL_DEV: "true" }, /no admin token/],
    [{ ADMIN_TOKEN: long, LOCAL_DEV: "false" }, null],
    [{ ADMIN_TOKEN: "dev-admin-token", LOCAL_DEV: "true" }, null],
    [{ ADMIN_TOKEN: "test-admin-token", LOCAL_DEV: "true" }, null],
  ])("%j -> %s", (config, problem) => {
    const why = adminTokenProblem(config);
    if (problem === null) expect(why).toBeNull();
    else expect(why).toMatch(problem);
  });

  it("refuses every admin route with a short configured token outside local development", async () => {
    const production = { ...env, LOCAL_DEV: "false", ADMIN_TOKEN: "dev-admin-token" } as Env;
    const ip = randomIp();
    const json = { "content-type": "application/json" };
    const create = { method: "POST", body: JSON.stringify({ tenant: "z" }), headers: json };
    const routes: [string, RequestInit][] = [
      ["/v1/admin/keys", create],
      [`/v1/admin/keys/${crypto.randomUUID()}`, { method: "DELETE" }],
      ["/v1/admin/usage", {}],
      ["/v1/admin/usage/reset", { method: "POST" }],
    ];
    for (const [path, init] of routes) {
      const res = await call(production, ip, "dev-admin-token", path, init);
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(((await res.json()) as { detail: string }).detail).toMatch(/shorter than 32 characters/);
    }
    // A long token works in production; dev's short token works under LOCAL_DEV.
    const longToken = { ...production, ADMIN_TOKEN: long } as Env;
    expect((await call(longToken, ip, long, "/v1/admin/keys", create)).status).toBe(201);
    expect((await call(longToken, ip, "dev-admin-token", "/v1/admin/keys", create)).status).toBe(401);
    const dev = { ...env, LOCAL_DEV: "true", ADMIN_TOKEN: "dev-admin-token" } as Env;
    expect((await call(dev, ip, "dev-admin-token", "/v1/admin/keys", create)).status).toBe(201);
  });
});
