import type { JobSpec } from "../schemas";

/** A job to run. Carries everything the consumer needs, so running it reads nothing from D1 but the claim. */
export interface JobMessage {
  kind: "job";
  job_id: string;
  run_id: string;
  tenant: string;
  url: string;
  browser: boolean;
  spec: JobSpec;
}

/** Fan-out of a large run: enqueue the next page of its pending jobs, then the next dispatch. */
export interface DispatchMessage {
  kind: "dispatch";
  run_id: string;
  tenant: string;
  created_at: string;
  after_job_id: string;
}

export type QueueMessage = JobMessage | DispatchMessage;

export type Parsed = { ok: true; message: QueueMessage } | { ok: false; reason: string };

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
  spec: isObject,
};
const SPEC_FIELDS = {
  screenshot: (v: unknown) => typeof v === "boolean",
  full_page: (v: unknown) => typeof v === "boolean",
  actions: Array.isArray,
  timeout: (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0,
};
const DISPATCH_FIELDS = {
  run_id: isId,
  tenant: isId,
  created_at: isId,
  after_job_id: (v: unknown) => typeof v === "string",
};

/**
 * Checks a delivered body has the shape this Worker's producers write. A body that does not (a
 * bug, or a message from another version) can never succeed, so the consumer settles it at once
 * rather than letting it retry and fail the messages delivered with it.
 */
export function parseQueueMessage(body: unknown): Parsed {
  if (!isObject(body)) return { ok: false, reason: "the body is not a JSON object" };
  if (body.kind === "job") {
    const bad = badField(body, JOB_FIELDS) ?? (isObject(body.spec) ? badField(body.spec, SPEC_FIELDS) : null);
    if (bad) return { ok: false, reason: `job message with a missing or invalid "${bad}"` };
    return { ok: true, message: body as unknown as JobMessage };
  }
  if (body.kind === "dispatch") {
    const bad = badField(body, DISPATCH_FIELDS);
    if (bad) return { ok: false, reason: `dispatch message with a missing or invalid "${bad}"` };
    return { ok: true, message: body as unknown as DispatchMessage };
  }
  return { ok: false, reason: `unknown message kind ${JSON.stringify(body.kind)?.slice(0, 60) ?? "(none)"}` };
}
