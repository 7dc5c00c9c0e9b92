import { createMiddleware } from "hono/factory";
import { LIMITS, settings } from "../../config";
import { findActiveKeyByHash } from "../../db/keys";
import { ApiError, notFound } from "../errors";

export type AppEnv = { Bindings: Env; Variables: { tenant: string } };

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const unauthorized = (detail: string) =>
  new ApiError("unauthorized", detail, { headers: { "www-authenticate": "Bearer" } });

function bearer(header: string | undefined): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) throw unauthorized("Send your API key as `Authorization: Bearer <key>`.");
  return m[1];
}

/**
 * Whose failures count together: the client's IPv4 address, or the /64 of an IPv6 one (a single
 * subscriber usually holds a whole /64, so per-address counting would not limit it). Cloudflare
 * sets CF-Connecting-IP on every request from the Internet; without it (tests, a request from
 * another Worker) all such clients share one bucket, so the limit still holds.
 */
export function clientBucket(connectingIp: string | undefined): string {
  const ip = connectingIp?.trim().toLowerCase();
  if (!ip) return "no-client-address";
  if (!ip.includes(":")) return ip;
  const [head, tail] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const zeros = new Array<string>(Math.max(0, 8 - h.length - t.length)).fill("0");
  const groups = tail === undefined ? h : [...h, ...zeros, ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * Failed authentication is limited per client bucket, because each unknown key costs a D1 read.
 * AUTH_FAILURE_LIMIT counts every call to limit(), so it is called on failures only; to refuse a
 * limited client *before* the lookup, this isolate remembers whom the binding refused, for one
 * full window from that refusal (never shorter than the binding's own window). Another isolate
 * learns it at that client's next failure there: one more D1 read per isolate and window at most.
 * Insertion order is expiry order, so the oldest entries are the first to go.
 */
const refusedUntil = new Map<string, number>();
const MAX_REMEMBERED = 10_000;

function remember(bucket: string, until: number, at: number) {
  refusedUntil.delete(bucket);
  refusedUntil.set(bucket, until);
  for (const [b, u] of refusedUntil) {
    if (u > at && refusedUntil.size <= MAX_REMEMBERED) break;
    refusedUntil.delete(b);
  }
}

function tooManyFailures(retryAfterMs: number): ApiError {
  const detail = "Too many failed authentications from your address; retry with a valid key after Retry-After.";
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError("rate_limited", detail, { headers: { "retry-after": String(seconds) } });
}

/** Throws 429 while this client is remembered as limited; touches no storage. Wall-clock time, like the binding's. */
function refuseIfLimited(bucket: string) {
  const until = refusedUntil.get(bucket);
  if (until === undefined) return;
  const left = until - Date.now();
  if (left > 0) throw tooManyFailures(left);
  refusedUntil.delete(bucket);
}

/** Counts one failure; the 401 to answer, or a 429 when this failure went over the limit. */
async function failure(env: Env, bucket: string, detail: string): Promise<ApiError> {
  const { success } = await env.AUTH_FAILURE_LIMIT.limit({ key: bucket });
  if (success) return unauthorized(detail);
  const at = Date.now();
  remember(bucket, at + LIMITS.authFailureWindowMs, at);
  return tooManyFailures(LIMITS.authFailureWindowMs);
}

const UNDER_COLLECTION = /^\/v1\/async\/collections\/([0-9a-fA-F-]{36})(\/.*)?$/;

/**
 * The collection a request is under, whose existence the key lookup checks: every URL below a
 * deleted collection (its runs, jobs, results, exports, …) answers 404 from the moment it is
 * deleted, whatever its runs' objects still hold, and routes added under it later are covered
 * too. Not the collection's own DELETE, which answers for itself, so that a retry under its
 * Idempotency-Key replays the first 204. An id that is not a UUID is left to the route's validation.
 */
function collectionOf(method: string, path: string): string | null {
  const m = UNDER_COLLECTION.exec(path);
  if (!m) return null;
  const rest = m[2] ?? "";
  return method === "DELETE" && (rest === "" || rest === "/") ? null : m[1];
}

/** API keys are looked up by their SHA-256, never stored or compared in clear. */
export const requireTenant = createMiddleware<AppEnv>(async (c, next) => {
  const bucket = clientBucket(c.req.header("cf-connecting-ip"));
  refuseIfLimited(bucket);
  const key = bearer(c.req.header("authorization"));
  const collection = collectionOf(c.req.method, c.req.path);
  const row = await findActiveKeyByHash(c.env.DB, await sha256Hex(key), collection);
  if (!row) throw await failure(c.env, bucket, "The API key is unknown or revoked.");
  const { success } = await c.env.TENANT_RATE_LIMIT.limit({ key: row.tenant });
  if (!success)
    throw new ApiError("rate_limited", "Too many requests for this tenant; retry after the time in Retry-After.", {
      headers: { "retry-after": "10" },
    });
  if (collection !== null && !row.collection_live) throw notFound("Collection");
  c.set("tenant", row.tenant);
  await next();
});

/**
 * Why the configured admin token cannot be used, or null. A short token can be guessed, so key
 * management stays off until it is replaced; local development keeps its documented short token.
 */
export function adminTokenProblem(env: Pick<Env, "ADMIN_TOKEN" | "LOCAL_DEV">): string | null {
  const token = env.ADMIN_TOKEN ?? "";
  if (!token) return "Key management is off: no admin token is configured (`wrangler secret put ADMIN_TOKEN`).";
  if (token.length < LIMITS.minAdminTokenLength && !settings(env).LOCAL_DEV) {
    return (
      `Key management is off: the configured admin token is shorter than ${LIMITS.minAdminTokenLength} characters; ` +
      "set a longer one with `wrangler secret put ADMIN_TOKEN`."
    );
  }
  return null;
}

/** The admin token is compared as SHA-256 digests in constant time; failures count like bad API keys. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const misconfigured = adminTokenProblem(c.env);
  if (misconfigured) throw new ApiError("unavailable", misconfigured);
  const bucket = clientBucket(c.req.header("cf-connecting-ip"));
  refuseIfLimited(bucket);
  const token = bearer(c.req.header("authorization"));
  const digest = (s: string) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  const [a, b] = await Promise.all([digest(token), digest(c.env.ADMIN_TOKEN)]);
  if (!crypto.subtle.timingSafeEqual(a, b)) throw await failure(c.env, bucket, "Key management needs the admin token.");
  await next();
});
