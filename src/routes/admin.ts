import { createRoute } from "@hono/zod-openapi";
import { requireAdmin, sha256Hex } from "../auth";
import { nowIso } from "../clock";
import { insertKey, revokeKey } from "../db/keys";
import { notFound } from "../errors";
import { CreateKeyBody, KeyCreated, KeyParams } from "../schemas";
import { errorResponses, router, security } from "./common";

export const admin = router();
admin.use("*", requireAdmin);

const create = createRoute({
  method: "post",
  path: "/keys",
  summary: "Create an API key for a tenant (admin token)",
  description: "The key is shown once; only its SHA-256 is stored.",
  security,
  request: { body: { content: { "application/json": { schema: CreateKeyBody } }, required: true } },
  responses: { 201: { content: { "application/json": { schema: KeyCreated } }, description: "Created" }, ...errorResponses },
});

admin.openapi(create, async (c) => {
  const body = c.req.valid("json");
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const key = `sk_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const key_id = crypto.randomUUID();
  await insertKey(c.env.DB, { key_id, tenant: body.tenant, name: body.name ?? null, key_hash: await sha256Hex(key), created_at: nowIso() });
  return c.json({ key_id, tenant: body.tenant, name: body.name ?? null, key }, 201);
});

const revoke = createRoute({
  method: "delete",
  path: "/keys/{key_id}",
  summary: "Revoke an API key (admin token)",
  security,
  request: { params: KeyParams },
  responses: { 204: { description: "Revoked" }, ...errorResponses },
});

admin.openapi(revoke, async (c) => {
  const { key_id } = c.req.valid("param");
  if (!(await revokeKey(c.env.DB, key_id, nowIso()))) throw notFound("Active API key");
  return c.body(null, 204);
});
