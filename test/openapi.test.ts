import { describe, expect, it } from "vitest";
import { api } from "./support/api";

type Op = {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { name: string; in: string }[];
  responses: Record<string, { headers?: Record<string, unknown> }>;
};
type Doc = {
  servers: { url: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, Op>>;
  components: {
    schemas: Record<string, { required?: string[]; properties?: Record<string, Record<string, unknown>> }>;
  };
};

const doc = async () => (await (await api("/v1/openapi.json")).json()) as Doc;
const operations = (d: Doc) =>
  Object.entries(d.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => ({ key: `${m} ${p}`, op })));

describe("the OpenAPI document", () => {
  it("names, tags and secures every operation, and declares every tag it uses", async () => {
    const d = await doc();
    const ops = operations(d);
    const ids = ops.map((o) => o.op.operationId);
    expect(ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { key, op } of ops) {
      expect(op.summary, key).toBeTruthy();
      expect(op.tags?.length, key).toBeGreaterThan(0);
      expect(Array.isArray(op.security), key).toBe(true);
      for (const t of op.tags ?? []) expect(d.tags.map((x) => x.name)).toContain(t);
    }
    const byId = Object.fromEntries(ops.map((o) => [o.op.operationId, o.op]));
    for (const id of ["health", "getOpenApiDocument", "getDocs"]) expect(byId[id].security).toEqual([]);
    expect(byId.createApiKey.security).toEqual([{ AdminToken: [] }]);
    expect(byId.listJobs.security).toEqual([{ Bearer: [] }]);
    expect(Object.keys(byId)).toEqual(
      expect.arrayContaining([
        "createCollection",
        "listCollections",
        "getCollection",
        "replaceCollection",
        "startRun",
        "listRuns",
        "getRun",
        "cancelRun",
        "listJobs",
        "getJob",
        "getJobResult",
        "getJobScreenshot",
        "exportRun",
        "createApiKey",
        "revokeApiKey",
      ]),
    );
  });

  it("names the origin it was requested on as its server, so try-it calls that server", async () => {
    expect((await doc()).servers).toEqual([expect.objectContaining({ url: "http://api.test" })]);
  });

  it("documents the idempotency and retry headers", async () => {
    const ops = Object.fromEntries(operations(await doc()).map((o) => [o.op.operationId, o.op]));
    for (const id of ["createCollection", "startRun"]) {
      expect(ops[id].parameters).toContainEqual(expect.objectContaining({ name: "Idempotency-Key", in: "header" }));
      expect(Object.keys(ops[id].responses[201].headers ?? {}).sort()).toEqual(["Idempotent-Replayed", "Location"]);
      expect(Object.keys(ops[id].responses[409].headers ?? {})).toEqual(["Retry-After"]);
    }
    expect(Object.keys(ops.getJobResult.responses[409].headers ?? {})).toEqual(["Retry-After"]);
    expect(Object.keys(ops.listJobs.responses[429].headers ?? {})).toEqual(["Retry-After"]);
  });

  it("describes request bodies as sent: a field with a default is optional and carries no `default`", async () => {
    const { Request } = (await doc()).components.schemas;
    expect(Request.required).toEqual(["url"]);
    for (const f of ["browser", "screenshot", "full_page", "actions", "timeout"]) {
      expect(Request.properties?.[f], f).not.toHaveProperty("default");
      expect(Request.properties?.[f].description, f).toMatch(/Default: `/);
    }
    expect(Request.properties?.timeout.description).toMatch(/Default: `30000`/);
  });
});

describe("GET /v1/docs", () => {
  it("is the Scalar reference, its script served by the Worker itself", async () => {
    const page = await api("/v1/docs");
    expect(page.status).toBe(200);
    const html = await page.text();
    const srcs = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
    expect(srcs).toEqual(["/v1/docs/scalar.js"]);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain('"url":"/v1/openapi.json"');
    const script = await api(srcs[0]);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/^text\/javascript/);
    const js = await script.text();
    expect(js.length).toBeGreaterThan(1_000_000);
    expect(js).toContain("createApiReference");
  });
});
