import { createMiddleware } from "hono/factory";
import { findActiveKeyByHash } from "./db/keys";
import { ApiError } from "./errors";

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function bearer(header: string | undefined): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) throw new ApiError("unauthorized", "Send your API key as `Authorization: Bearer <key>`.", { headers: { "www-authenticate": "Bearer" } });
  return m[1];
}

/** API keys are looked up by their SHA-256, never stored or compared in clear. */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const key = bearer(c.req.header("authorization"));
  const row = await findActiveKeyByHash(c.env.DB, await sha256Hex(key));
  if (!row) throw new ApiError("unauthorized", "The API key is unknown or revoked.", { headers: { "www-authenticate": "Bearer" } });
  const { success } = await c.env.TENANT_RATE_LIMIT.limit({ key: row.tenant });
  if (!success) throw new ApiError("rate_limited", "Too many requests for this tenant; retry after the time in Retry-After.", { headers: { "retry-after": "10" } });
  c.set("tenant", row.tenant);
  await next();
});

/** The admin token is compared as SHA-256 digests in constant time. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearer(c.req.header("authorization"));
  const expected = c.env.ADMIN_TOKEN;
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([crypto.subtle.digest("SHA-256", enc.encode(token)), crypto.subtle.digest("SHA-256", enc.encode(expected ?? ""))]);
  if (!expected || !crypto.subtle.timingSafeEqual(a, b)) throw new ApiError("unauthorized", "Key management needs the admin token.", { headers: { "www-authenticate": "Bearer" } });
  await next();
});
