import type { JobMessage } from "../domain";

/**
 * The one message kind the job queues carry. A body that is not one (a message from an older
 * deploy, a hand-sent test message) is refused here, so it is dropped alone instead of failing
 * or looping its batch.
 */
export function parseJobMessage(body: unknown): JobMessage | null {
  if (typeof body !== "object" || body === null) return null;
  const m = body as Record<string, unknown>;
  const spec = m.spec as Record<string, unknown> | null | undefined;
  const ok =
    m.kind === "job" &&
    typeof m.job_id === "string" &&
    typeof m.run_id === "string" &&
    typeof m.tenant === "string" &&
    typeof m.url === "string" &&
    typeof m.browser === "boolean" &&
    Number.isInteger(m.attempt) &&
    (m.attempt as number) >= 1 &&
    typeof m.released_ms === "number" &&
    typeof spec === "object" &&
    spec !== null &&
    typeof spec.timeout === "number" &&
    Array.isArray(spec.actions);
  return ok ? (m as unknown as JobMessage) : null;
}
export type { JobMessage } from "../domain";
