import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { type AppEnv, sha256Hex } from "./auth";
import { now } from "../../clock";
import { idempotencyObject } from "../../do/objects";
import { ApiError } from "../errors";

/** Response headers worth replaying with the body. */
const KEPT_HEADERS = ["content-type", "location"];

declare module "hono" {
  interface ContextVariableMap {
    /** The resource id the request's Idempotency-Key reserved; unset without a key. */
    reservedId: string | undefined;
  }
}

/** The id the resource this request creates must take: the one its Idempotency-Key reserved, if any. */
export const resourceId = (c: Context): string => c.get("reservedId") ?? crypto.randomUUID();

/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) for the creating POSTs: the first
 * request with a key runs; a retry with the same key and body gets the stored response with
 * `Idempotent-Replayed: true`; another body is 422; a retry while an attempt holds the key's lease
 * is 409 with Retry-After. A response that says nothing about the request's effect (5xx, 409, 429)
 * is not stored and ends the lease, so a retry may run at once.
 *
 * Every attempt with one key creates its resource under the id the key reserved (resourceId()),
 * and creates are idempotent on it, so an attempt that died half-way, or whose response could not
 * be stored, is finished by the next attempt instead of doubled.
 */
export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return next();
  if (key.length < 1 || key.length > 255) {
    throw new ApiError("validation_failed", "The Idempotency-Key header must be 1 to 255 characters.", {
      errors: [{ path: "header.Idempotency-Key", message: "1..255 characters" }],
    });
  }
  const fingerprint = await sha256Hex(`${c.req.method} ${new URL(c.req.url).pathname}\n${await c.req.text()}`);
  const record = idempotencyObject(c.env, c.get("tenant"), key);
  const begun = await record.begin(fingerprint, now(), crypto.randomUUID());
  switch (begun.state) {
    case "replay":
      // A 204 (DELETE) was stored with an empty body; a Response of that status must have none.
      return new Response(begun.status === 204 ? null : begun.body, {
        status: begun.status,
        headers: { ...begun.headers, "idempotent-replayed": "true" },
      });
    case "in_flight":
      throw new ApiError("conflict", "A request with this Idempotency-Key is still being processed; retry shortly.", {
        headers: { "retry-after": String(begun.retryAfterSeconds) },
      });
    case "mismatch":
      throw new ApiError(
        "validation_failed",
        "This Idempotency-Key was already used with a different request; use a new key for a new request.",
      );
  }
  c.set("reservedId", begun.resourceId);
  // Ending the lease early only lets a retry run sooner; if that fails, the lease runs out by itself.
  const release = () =>
    record.release(begun.attempt).catch((e: unknown) => console.error("idempotency release failed", e));
  try {
    await next();
  } catch (e) {
    await release();
    throw e;
  }
  const res = c.res;
  if (res.status >= 500 || res.status === 409 || res.status === 429) {
    await release();
    return;
  }
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) {
    const v = res.headers.get(h);
    if (v) headers[h] = v;
  }
  try {
    await record.complete(res.status, await res.clone().text(), headers);
  } catch (e) {
    // The effect happened: answer it. A retry after the lease converges on the reserved id.
    console.error("storing the idempotent response failed", e);
  }
});
