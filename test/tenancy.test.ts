/** Auth and tenant isolation on every route: another tenant's ids answer 404, never the data. */
import { describe, expect, it } from "vitest";
import { buildApp } from "../src/http/app";
import { ADMIN, api, createCollection, newTenant, startRun, target, waitForRun, allJobs } from "./support/api";

describe("auth", () => {
  it("needs a bearer key everywhere but health and the OpenAPI document", async () => {
    expect((await api("/v1/health")).status).toBe(200);
    expect((await api("/v1/openapi.json")).status).toBe(200);
    for (const path of ["/v1/async/collections", `/v1/async/collections/${crypto.randomUUID()}`]) {
      const res = await api(path);
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect((await api(path, { key: "sk_not_a_key" })).status).toBe(401);
    }
  });

  it("creates keys behind the admin token, shows them once and revokes them", async () => {
    expect((await api("/v1/admin/keys", { method: "POST", json: { tenant: "x" } })).status).toBe(401);
    expect((await api("/v1/admin/keys", { method: "POST", key: "wrong", json: { tenant: "x" } })).status).toBe(401);
    const t = await newTenant("acme");
    expect(t.key).toMatch(/^sk_[0-9a-f]{64}$/);
    // A tenant's key is not an admin token.
    expect((await api("/v1/admin/keys", { method: "POST", key: t.key, json: { tenant: "y" } })).status).toBe(401);
    expect((await api("/v1/async/collections", { key: t.key })).status).toBe(200);
    expect((await api(`/v1/admin/keys/${t.key_id}`, { method: "DELETE", key: ADMIN })).status).toBe(204);
    expect((await api("/v1/async/collections", { key: t.key })).status).toBe(401);
    expect((await api(`/v1/admin/keys/${t.key_id}`, { method: "DELETE", key: ADMIN })).status).toBe(404);
    expect((await api("/v1/admin/keys", { method: "POST", key: ADMIN, json: { tenant: "bad tenant!" } })).status).toBe(
      422,
    );
  });
});

describe("tenant isolation", () => {
  it("answers 404 to another tenant on every route", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const col = await createCollection(a.key, [{ url: target("/ok"), custom_id: "only" }]);
    const run = await startRun(a.key, col.id);
    await waitForRun(a.key, col.id, run.run_id);
    const [job] = await allJobs(a.key, col.id, run.run_id);
    const base = `/v1/async/collections/${col.id}`;
    const routes: [string, string, unknown?][] = [
      ["GET", base],
      ["PUT", base, { requests: [{ url: target("/ok") }] }],
      ["POST", `${base}/run`],
      ["GET", `${base}/runs`],
      ["GET", `${base}/runs/${run.run_id}`],
      ["POST", `${base}/runs/${run.run_id}/cancel`],
      ["GET", `${base}/runs/${run.run_id}/jobs`],
      ["GET", `${base}/runs/${run.run_id}/jobs/${job.job_id}`],
      ["GET", `${base}/runs/${run.run_id}/jobs/${job.job_id}/result`],
      ["GET", `${base}/runs/${run.run_id}/jobs/${job.job_id}/screenshot`],
      ["GET", `${base}/runs/${run.run_id}/export`],
      ["GET", `${base}/runs/${run.run_id}/events`],
      ["DELETE", base],
      ["GET", `${base}/runs/${run.run_id}/deliveries`],
    ];
    for (const [method, path, json] of routes) {
      const res = await api(path, { method, key: b.key, json });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
      expect(await res.text()).not.toContain("only");
    }
    const list = (await (await api("/v1/async/collections", { key: b.key })).json()) as {
      total: number;
      items: unknown[];
    };
    expect(list).toMatchObject({ total: 0, items: [] });
    // And the owner still sees everything, unchanged.
    for (const [method, path] of routes.filter(([m]) => m === "GET" && !String(routes).includes("screenshot"))) {
      if (path.endsWith("/screenshot")) continue;
      expect((await api(path, { method, key: a.key })).status).toBe(200);
    }
    const got = (await (await api(base, { key: a.key })).json()) as { total_requests: number };
    expect(got.total_requests).toBe(1);
    // An unknown run id answers 404 (its Durable Object creates no tables for it).
    expect((await api(`${base}/runs/${crypto.randomUUID()}`, { key: a.key })).status).toBe(404);
    // A run id under another of the owner's collections is not found either.
    const col2 = await createCollection(a.key, [{ url: target("/ok") }]);
    expect((await api(`/v1/async/collections/${col2.id}/runs/${run.run_id}`, { key: a.key })).status).toBe(404);
    expect(
      (await api(`/v1/async/collections/${col2.id}/runs/${run.run_id}/jobs/${job.job_id}/result`, { key: a.key }))
        .status,
    ).toBe(404);
  });
});

describe("OpenAPI", () => {
  it("documents every route of the app", async () => {
    const doc = (await (await api("/v1/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe("3.1.0");
    const expected = [
      ["post", "/v1/async/collections"],
      ["get", "/v1/async/collections"],
      ["get", "/v1/async/collections/{id}"],
      ["put", "/v1/async/collections/{id}"],
      ["delete", "/v1/async/collections/{id}"],
      ["get", "/v1/usage"],
      ["post", "/v1/async/collections/{id}/run"],
      ["get", "/v1/async/collections/{id}/runs"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}"],
      ["post", "/v1/async/collections/{id}/runs/{run_id}/cancel"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/jobs"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/jobs/{job_id}"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/jobs/{job_id}/result"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/jobs/{job_id}/screenshot"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/export"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/events"],
      ["get", "/v1/async/collections/{id}/runs/{run_id}/deliveries"],
      ["post", "/v1/async/collections/{id}/runs/{run_id}/deliveries/{delivery_id}/redeliver"],
      ["get", "/v1/webhooks/secret"],
      ["post", "/v1/webhooks/secret/rotate"],
      ["post", "/v1/admin/keys"],
      ["delete", "/v1/admin/keys/{key_id}"],
      ["get", "/v1/admin/usage"],
      ["post", "/v1/admin/usage/reset"],
      ["get", "/v1/health"],
      ["get", "/v1/openapi.json"],
      ["get", "/v1/docs"],
    ];
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(documented.sort()).toEqual(expected.map(([m, p]) => `${m} ${p}`).sort());
    // And every route the app actually serves is documented (middleware and the docs page's script aside).
    const served = new Set(
      buildApp()
        .routes.filter((r) => r.method !== "ALL" && !r.path.endsWith("*") && r.path !== "/v1/docs/scalar.js")
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}").replace(/\/$/, "")}`),
    );
    expect([...served].sort()).toEqual(documented.sort().map((d) => d.replace(/\/$/, "")));
  });
});
