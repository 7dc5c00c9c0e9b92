/** Each validation rule of API.md: bad input is a 4xx problem and creates nothing. */
import { describe, expect, it } from "vitest";
import { api, newTenant, target } from "./support/api";

async function problem(res: Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  const body = (await res.json()) as {
    type: string;
    title: string;
    status: number;
    detail: string;
    errors?: { path: string; message: string }[];
  };
  expect(body.status).toBe(status);
  expect(body.detail.length).toBeGreaterThan(10);
  expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+|stack/i);
  return body;
}

const create = (key: string, json: unknown) => api("/v1/async/collections", { method: "POST", key, json });

describe("collection validation", () => {
  it("rejects each invalid request with a 422 naming the field, and stores nothing", async () => {
    const { key } = await newTenant();
    const bad: [unknown, string][] = [
      [{ requests: [{ url: target("/ok") }] }, "name"],
      [{ name: "", requests: [{ url: target("/ok") }] }, "name"],
      [{ name: "x".repeat(201), requests: [{ url: target("/ok") }] }, "name"],
      [{ name: "n", requests: [] }, "requests"],
      [{ name: "n", requests: [{ url: "" }] }, "requests[0].url"],
      [{ name: "n", requests: [{ url: "ftp://example.com/x" }] }, "requests[0].url"],
      [{ name: "n", requests: [{ url: target("/ok"), screenshot: true }] }, "requests[0].screenshot"],
      [
        { name: "n", requests: [{ url: target("/ok"), actions: [{ type: "wait-for-timeout", time: 10 }] }] },
        "requests[0].actions",
      ],
      [
        {
          name: "n",
          requests: [
            { url: target("/ok"), browser: true, actions: [{ type: "wait-for-timeout", time: 10 }, { type: "click" }] },
          ],
        },
        "requests[0].actions[1].selector",
      ],
      [
        { name: "n", requests: [{ url: target("/ok"), browser: true, actions: [{ type: "teleport" }] }] },
        "requests[0].actions[0].type",
      ],
      [
        {
          name: "n",
          requests: [{ url: target("/ok"), browser: true, actions: [{ type: "wait-for-timeout", time: 60_001 }] }],
        },
        "requests[0].actions[0].time",
      ],
      [{ name: "n", requests: [{ url: target("/ok"), timeout: 999 }] }, "requests[0].timeout"],
      [{ name: "n", requests: [{ url: target("/ok"), timeout: 120_001 }] }, "requests[0].timeout"],
      [{ name: "n", requests: [{ url: target("/ok"), custom_id: "" }] }, "requests[0].custom_id"],
      [{ name: "n", requests: [{ url: target("/ok"), custom_id: "x".repeat(256) }] }, "requests[0].custom_id"],
      [{ name: "n", requests: [{ url: target("/ok"), browser: "yes" }] }, "requests[0].browser"],
      [{ name: "n", requests: [{ url: "http://10.0.0.1/" }] }, "requests[0].url"],
      [{ name: "n", requests: [{ url: "http://169.254.169.254/latest/meta-data" }] }, "requests[0].url"],
      [{ name: "n", requests: [{ url: "http://user:pw@example.com/" }] }, "requests[0].url"],
    ];
    for (const [json, path] of bad) {
      const body = await problem(await create(key, json), 422);
      expect({ json, paths: body.errors?.map((e) => e.path) }).toEqual({ json, paths: expect.arrayContaining([path]) });
    }
    const list = (await (await api("/v1/async/collections", { key })).json()) as { total: number };
    expect(list.total).toBe(0);
  });

  it("answers 400 for malformed JSON, 413 over 10 MB, 422 over the request limit, and de-duplicates", async () => {
    const { key } = await newTenant();
    await problem(
      await api("/v1/async/collections", {
        method: "POST",
        key,
        body: "{nope",
        headers: { "content-type": "application/json" },
      }),
      400,
    );
    const big = JSON.stringify({
      name: "big",
      requests: [{ url: target("/ok"), custom_id: "x".repeat(11 * 1024 * 1024) }],
    });
    await problem(
      await api("/v1/async/collections", {
        method: "POST",
        key,
        body: big,
        headers: { "content-type": "application/json" },
      }),
      413,
    );
    const many = Array.from({ length: 10_001 }, (_, i) => ({ url: target(`/page/${i}`) }));
    const over = await problem(await create(key, { name: "many", requests: many }), 422);
    expect(over.detail).toMatch(/at most 10000/);
    const res = await create(key, {
      name: "dups",
      requests: [
        { url: target("/ok"), custom_id: "a" },
        { url: target("/ok"), custom_id: "a" },
        { url: target("/ok#frag"), custom_id: "a" },
        { url: target("/ok"), custom_id: "b" },
        { url: target("/ok") },
        { url: target("/ok") },
      ],
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ total_requests: 3, duplicates_skipped: 3 });
    expect((await (await api("/v1/async/collections", { key })).json()) as { total: number }).toMatchObject({
      total: 1,
    });
  });

  it("accepts 10,000 requests in one collection", async () => {
    const { key } = await newTenant();
    const requests = Array.from({ length: 10_000 }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `r${i}` }));
    const res = await create(key, { name: "10k", requests });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; total_requests: number };
    expect(body.total_requests).toBe(10_000);
    const got = (await (await api(`/v1/async/collections/${body.id}`, { key })).json()) as {
      requests: { custom_id: string }[];
    };
    expect(got.requests.length).toBe(10_000);
    expect(got.requests[9_999].custom_id).toBe("r9999");
  });

  it("rejects bad query parameters and cursors", async () => {
    const { key } = await newTenant();
    await problem(await api("/v1/async/collections?limit=0", { key }), 422);
    await problem(await api("/v1/async/collections?limit=501", { key }), 422);
    await problem(await api("/v1/async/collections?cursor=garbage", { key }), 400);
    await problem(await api("/v1/async/collections/not-a-uuid", { key }), 422);
    await problem(await api(`/v1/async/collections/${crypto.randomUUID()}`, { key }), 404);
    await problem(await api("/v1/nowhere", { key }), 404);
  });

  it("replaces a collection's requests for future runs with PUT", async () => {
    const { key } = await newTenant();
    const col = (await (await create(key, { name: "p", requests: [{ url: target("/ok") }] })).json()) as { id: string };
    const put = await api(`/v1/async/collections/${col.id}`, {
      method: "PUT",
      key,
      json: { name: "renamed", requests: [{ url: target("/page/1") }, { url: target("/page/2") }] },
    });
    expect(put.status).toBe(200);
    const got = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as {
      name: string;
      total_requests: number;
      requests: { url: string }[];
    };
    expect(got).toMatchObject({ name: "renamed", total_requests: 2 });
    expect(got.requests.map((r) => r.url)).toEqual([target("/page/1"), target("/page/2")]);
    await problem(await api(`/v1/async/collections/${col.id}`, { method: "PUT", key, json: { requests: [] } }), 422);
  });
});

describe("idempotency", () => {
  it("replays, rejects another body with the same key, and validates the header", async () => {
    const { key } = await newTenant();
    const k = crypto.randomUUID();
    const json = { name: "i", requests: [{ url: target("/ok") }] };
    const a = await api("/v1/async/collections", { method: "POST", key, json, headers: { "idempotency-key": k } });
    expect(a.status).toBe(201);
    const b = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { ...json, name: "other" },
      headers: { "idempotency-key": k },
    });
    await problem(b, 422);
    await problem(
      await api("/v1/async/collections", {
        method: "POST",
        key,
        json,
        headers: { "idempotency-key": "x".repeat(256) },
      }),
      422,
    );
    // Another tenant's identical key is its own.
    const other = await newTenant();
    const c = await api("/v1/async/collections", {
      method: "POST",
      key: other.key,
      json,
      headers: { "idempotency-key": k },
    });
    expect(c.status).toBe(201);
    expect(c.headers.get("idempotent-replayed")).toBeNull();
  });

  it("makes POST /run idempotent with the same header", async () => {
    const { key } = await newTenant();
    const col = (await (await create(key, { name: "r", requests: [{ url: target("/ok") }] })).json()) as { id: string };
    const k = crypto.randomUUID();
    const a = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      headers: { "idempotency-key": k },
    });
    const b = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      headers: { "idempotency-key": k },
    });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(((await b.json()) as { run_id: string }).run_id).toBe(((await a.json()) as { run_id: string }).run_id);
    const runs = (await (await api(`/v1/async/collections/${col.id}/runs`, { key })).json()) as { total: number };
    expect(runs.total).toBe(1);
    // Without a key, each call is a new run (the seed says so).
    await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key });
    expect(
      ((await (await api(`/v1/async/collections/${col.id}/runs`, { key })).json()) as { total: number }).total,
    ).toBe(2);
  });
});
