/**
 * Rows → API shapes, once. The stores return rows (D1 rows, the run object's rows); every route
 * that answers with a run or a job goes through these.
 */
import { iso } from "../clock";
import type { RunRow } from "../db/runs";
import type { DeliveryRow, JobRow, RunState } from "../do/job-store";
import { jobIdOf, type RunView } from "../do/run-coordinator";
import { parseResultMeta } from "../kept-results";
import { bodiesExpired } from "../storage/bodies";
import type { Delivery, Job, RunSummary } from "../schemas";
import type { z } from "@hono/zod-openapi";
import { parseWebhook } from "../webhooks/messages";

/** The live summary from the run's object. */
export const runSummary = (s: RunState): RunSummary => ({
  run_id: s.run_id,
  status: s.status,
  total_requests: s.total,
  success_requests: s.success,
  failed_requests: s.failed,
  timeout_requests: s.timeout,
  collection_id: s.collection_id,
  created_at: iso(s.created_ms),
  completed_at: s.completed_ms === null ? null : iso(s.completed_ms),
  politeness: { per_host_concurrency: s.per_host_concurrency, per_host_delay_ms: s.per_host_delay_ms },
});

/** Whether a run's pinned webhook (JSON or null) announces its end. */
export const announcesEnd = (webhook: string | null) =>
  parseWebhook(webhook)?.events.includes("run.completed") ?? false;

/**
 * The live summary with its webhook: the run.completed delivery, pending until the run ends; null
 * when the run has no webhook or its webhook does not take run.completed.
 */
export const runView = (s: RunView): RunSummary => ({ ...runSummary(s), webhook: webhookState(s.webhook, s.delivery) });

/** A run's run.completed delivery as RunSummary shows it; pending while there is no delivery yet. */
export const webhookState = (
  webhook: string | null,
  delivery: Pick<DeliveryRow, "status" | "attempts"> | null | undefined,
): RunSummary["webhook"] =>
  announcesEnd(webhook) ? { status: delivery?.status ?? "pending", attempts: delivery?.attempts ?? 0 } : null;

const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export const deliveryView = (d: DeliveryRow): z.infer<typeof Delivery> => ({
  delivery_id: d.id,
  event: d.event,
  url: d.url,
  status: d.status,
  attempts: d.attempts,
  last_status_code: d.last_status_code,
  last_error: d.last_error,
  created_at: iso(d.created_ms),
  last_attempt_at: isoOrNull(d.last_attempt_ms),
  next_attempt_at: d.status === "pending" ? isoOrNull(d.next_attempt_ms) : null,
  delivered_at: isoOrNull(d.delivered_ms),
  ...(d.job_count === null ? {} : { job_count: d.job_count }),
});

/** A run as the D1 row has it (the list of runs). */
export const runSummaryOfRow = (r: RunRow): RunSummary => ({
  run_id: r.id,
  status: r.status,
  total_requests: r.total_requests,
  success_requests: r.success_requests,
  failed_requests: r.failed_requests,
  timeout_requests: r.timeout_requests,
  collection_id: r.collection_id,
  created_at: r.created_at,
  completed_at: r.completed_at,
  politeness: { per_host_concurrency: r.per_host_concurrency, per_host_delay_ms: r.per_host_delay_ms },
});

/** `metadata`, `extracted` and `extract_truncated` of a job that requested them and has finished. */
export function keptResults(r: Pick<JobRow, "result_meta">): Pick<Job, "metadata" | "extracted" | "extract_truncated"> {
  const meta = parseResultMeta(r.result_meta);
  return {
    ...("metadata" in meta ? { metadata: meta.metadata } : {}),
    ...("extracted" in meta ? { extracted: meta.extracted } : {}),
    ...(meta.extract_truncated ? { extract_truncated: true } : {}),
  };
}

export function jobView(run: RunState, r: JobRow, nowMs: number): Job {
  const expired = bodiesExpired(r.completed_ms, nowMs);
  return {
    job_id: jobIdOf(run.job_prefix, r.seq),
    run_id: run.run_id,
    collection_id: run.collection_id,
    custom_id: r.custom_id,
    url: r.url,
    browser: r.browser === 1,
    status: r.status,
    status_code: r.status_code,
    final_url: r.final_url,
    blocked_reason: r.blocked_reason,
    error: r.error,
    attempts: r.attempts,
    created_at: iso(run.created_ms),
    started_at: r.released_ms === null ? null : iso(r.released_ms),
    completed_at: r.completed_ms === null ? null : iso(r.completed_ms),
    timings: {
      queue_wait_ms: r.queue_wait_ms,
      fetch_ms: r.fetch_ms,
      ...(r.browser === 1 ? { render_ms: r.render_ms } : {}),
      total_ms: r.total_ms,
    },
    result_available: r.body_key !== null && !expired,
    screenshot_available: r.screenshot_key !== null && !expired,
    ...keptResults(r),
  };
}
