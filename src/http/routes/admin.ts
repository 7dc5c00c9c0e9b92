import { createRoute, z } from "@hono/zod-openapi";
import { requireAdmin, sha256Hex } from "../middleware/auth";
import { nowIso } from "../../clock";
import { insertKey, revokeKey } from "../../db/keys";
import { ApiError, notFound } from "../errors";
import { benchMode, resetUsage, usage } from "../../metrics";
import { CreateKeyBody, KeyCreated, KeyParams } from "../../schemas";
import { adminSecurity as security, errorResponses, router, unavailable } from "./common";

export const admin = router();
admin.use("*", requireAdmin);

const create = createRoute({
  method: "post",
  path: "/keys",
  operationId: "createApiKey",
  tags: ["Admin"],
  summary: "Create an API key for a tenant (admin token)",
  description: "The key is shown once; only its SHA-256 is stored.",
  security,
  request: { body: { content: { "application/json": { schema: CreateKeyBody } }, required: true } },
  responses: {
    201: { content: { "application/json": { schema: KeyCreated } }, description: "Created" },
    ...errorResponses,
    ...unavailable,
  },
});

admin.openapi(create, async (c) => {
  const body = c.req.valid("json");
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const key = `sk_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const key_id = crypto.randomUUID();
  await insertKey(c.env.DB, {
    key_id,
    tenant: body.tenant,
    name: body.name ?? null,
    key_hash: await sha256Hex(key),
    created_at: nowIso(),
  });
  return c.json({ key_id, tenant: body.tenant, name: body.name ?? null, key }, 201);
});

const revoke = createRoute({
  method: "delete",
  path: "/keys/{key_id}",
  operationId: "revokeApiKey",
  tags: ["Admin"],
  summary: "Revoke an API key (admin token)",
  security,
  request: { params: KeyParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses, ...unavailable },
});

admin.openapi(revoke, async (c) => {
  const { key_id } = c.req.valid("param");
  if (!(await revokeKey(c.env.DB, key_id, nowIso()))) throw notFound("Active API key");
  return c.body(null, 204);
});

const UsageCounters = z.object({ counters: z.record(z.string(), z.number()) }).openapi("Usage", {
  description: "Operation counters of this isolate since start or the last reset (bench mode only)",
});

const benchOnly = (env: Env) => {
  if (!benchMode(env))
    throw new ApiError(
      "not_found",
      "Usage counters exist only when the Worker runs with BENCH_METRICS=true (npm run bench).",
    );
};

const getUsage = createRoute({
  method: "get",
  path: "/usage",
  operationId: "getBenchCounters",
  tags: ["Admin"],
  summary: "Operation counters for the benchmark (admin token, bench mode)",
  security,
  responses: {
    200: { content: { "application/json": { schema: UsageCounters } }, description: "Counters" },
    ...errorResponses,
    ...unavailable,
  },
});

admin.openapi(getUsage, (c) => {
  benchOnly(c.env);
  return c.json({ counters: { ...usage } }, 200);
});

const reset = createRoute({
  method: "post",
  path: "/usage/reset",
  operationId: "resetBenchCounters",
  tags: ["Admin"],
  summary: "Reset the benchmark's operation counters (admin token, bench mode)",
  security,
  responses: { 204: { description: "Reset" }, ...errorResponses, ...unavailable },
});

admin.openapi(reset, (c) => {
  benchOnly(c.env);
  resetUsage();
  return c.body(null, 204);
});
