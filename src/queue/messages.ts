import type { JobMessage } from "../domain";

export type Parsed = { ok: true; message: JobMessage } | { ok: false; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown) => typeof v === "string" && v.length > 0;

/** The first field of `o` that is not of its expected type, or null. */
function badField(o: Record<string, unknown>, fields: Record<string, (v: unknown) => boolean>): string | null {
  for (const [name, ok] of Object.entries(fields)) if (!ok(o[name])) return name;
  return null;
}

const JOB_FIELDS = {
  job_id: isId,
  run_id: isId,
  tenant: isId,
  url: isId,
  browser: (v: unknown) => typeof v === "boolean",
  attempt: (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1,
  released_ms: (v: unknown) => typeof v === "number" && Number.isFinite(v),
  spec: isObject,
};
const SPEC_FIELDS = {
  screenshot: (v: unknown) => typeof v === "boolean",
  full_page: (v: unknown) => typeof v === "boolean",
  actions: Array.isArray,
  timeout: (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0,
};

/**
 * Checks a delivered body has the shape this Worker's producers write. A body that does not (a
 * bug, or a message from another version) can never succeed, so the consumer settles it at once
 * rather than letting it retry and fail the messages delivered with it.
 */
export function parseQueueMessage(body: unknown): Parsed {
  if (!isObject(body)) return { ok: false, reason: "the body is not a JSON object" };
  if (body.kind !== "job") {
    return { ok: false, reason: `unknown message kind ${JSON.stringify(body.kind)?.slice(0, 60) ?? "(none)"}` };
  }
  const bad = badField(body, JOB_FIELDS) ?? (isObject(body.spec) ? badField(body.spec, SPEC_FIELDS) : null);
  if (bad) return { ok: false, reason: `job message with a missing or invalid "${bad}"` };
  return { ok: true, message: body as unknown as JobMessage };
}
