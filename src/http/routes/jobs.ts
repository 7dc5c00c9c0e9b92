import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock";
import { decodeCursor, encodeCursor } from "../cursor";
import type { JobRow } from "../../do/job-store";
import { runObject } from "../../do/objects";
import { isTerminal } from "../../domain";
import { ApiError, notFound } from "../errors";
import { jobView } from "../views";
import { bodiesExpired, readBody } from "../../storage/bodies";
import { Job, JobList, JobListQuery, JobParams, JobResult, ResultQuery, RunParams } from "../../schemas";
import { conflict, errorResponses, gone, router, security } from "./common";

export const jobs = router();

/**
 * Stored pages are third-party HTML: served so they cannot run script on the API's origin or be
 * sniffed into something else.
 */
const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "sandbox",
  "x-content-type-options": "nosniff",
};

const list = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs",
  summary: "Page through a run's jobs",
  description:
    "Keyset pagination. `order_by=completed_at` lists finished jobs in completion order (ties by job_id); with `since_completed_at` only jobs completed strictly after that instant, so a client can stream completions.",
  security,
  request: { params: RunParams, query: JobListQuery },
  responses: { 200: { content: { "application/json": { schema: JobList } }, description: "A page" }, ...errorResponses },
});

jobs.openapi(list, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const q = c.req.valid("query");
  if (q.order_by === "completed_at" && q.status_filter?.some((s) => !isTerminal(s))) {
    throw new ApiError("validation_failed", "order_by=completed_at lists finished jobs only; filter on completed, failed or timeout, or order by created_at.", {
      errors: [{ path: "status_filter", message: "only completed, failed, timeout with order_by=completed_at" }],
    });
  }
  if (q.since_completed_at && q.order_by !== "completed_at") {
    throw new ApiError("validation_failed", "since_completed_at needs order_by=completed_at.", { errors: [{ path: "since_completed_at", message: "needs order_by=completed_at" }] });
  }
  const kind = `jobs:${q.order_by}`;
  const key = decodeCursor(kind, q.cursor, q.order_by === "created_at" ? ["position"] : ["position", "position"]);
  const after = key && (q.order_by === "created_at" ? { seq: key[0] as number } : { completed_ms: key[0] as number, seq: key[1] as number });
  const page = await runObject(c.env, run_id).listJobs({
    tenant: c.get("tenant"),
    collection_id: id,
    order: q.order_by,
    statuses: q.status_filter,
    since_ms: q.since_completed_at ? Date.parse(q.since_completed_at) : undefined,
    after: after ?? undefined,
    limit: q.limit,
  });
  if (!page) throw notFound("Run");
  const t = now();
  const last = page.rows.at(-1);
  const cursor_next =
    page.has_more && last ? encodeCursor(kind, q.order_by === "created_at" ? [last.seq] : [last.completed_ms!, last.seq]) : null;
  return c.json({ items: page.rows.map((r: JobRow) => jobView(page.run, r, t)), has_more: page.has_more, cursor_next }, 200);
});

async function ownedJob(env: Env, tenant: string, collectionId: string, runId: string, jobId: string) {
  const found = await runObject(env, runId).getJob({ tenant, collection_id: collectionId, job_id: jobId });
  if (!found) throw notFound("Job");
  return found;
}

const get = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}",
  summary: "One job",
  security,
  request: { params: JobParams },
  responses: { 200: { content: { "application/json": { schema: Job } }, description: "The job" }, ...errorResponses },
});

jobs.openapi(get, async (c) => {
  const p = c.req.valid("param");
  const { run, row } = await ownedJob(c.env, c.get("tenant"), p.id, p.run_id, p.job_id);
  return c.json(jobView(run, row, now()), 200);
});

const result = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}/result",
  summary: "A finished job's outcome and HTML",
  description: "JSON by default; the raw HTML alone with `Accept: text/html` or `?format=html`. 409 until the job has finished; 410 once its HTML expired (48 h after completion).",
  security,
  request: { params: JobParams, query: ResultQuery },
  responses: {
    200: {
      content: { "application/json": { schema: JobResult }, "text/html": { schema: z.string() } },
      description: "The result",
    },
    ...errorResponses,
    ...conflict,
    ...gone,
  },
});

jobs.openapi(result, async (c) => {
  const p = c.req.valid("param");
  const { format } = c.req.valid("query");
  const { run, row: job } = await ownedJob(c.env, c.get("tenant"), p.id, p.run_id, p.job_id);
  if (!isTerminal(job.status)) {
    throw new ApiError("conflict", `The job is ${job.status}; its result is available once it has finished.`, { headers: { "retry-after": "2" } });
  }
  const wantsHtml = format === "html" || (format === undefined && /\btext\/html\b/.test(c.req.header("accept") ?? ""));
  const expiredMsg = "The job's HTML expired (pages are kept 48 hours after completion); run the collection again to fetch it anew.";
  if (bodiesExpired(job.completed_ms, now())) throw new ApiError("gone", expiredMsg);
  const obj = job.body_key ? await readBody(c.env.BODIES, { ...job, body_key: job.body_key }) : null;
  if (job.body_key && !obj) throw new ApiError("gone", expiredMsg);
  if (wantsHtml) {
    if (!obj) throw new ApiError("not_found", `No HTML was captured for this job (${job.error ?? "no response body"}).`);
    return new Response(obj.body, { status: 200, headers: HTML_HEADERS }) as never;
  }
  const api = jobView(run, job, now());
  const meta = job.result_meta ? (JSON.parse(job.result_meta) as { evaluate_results?: unknown[] }) : {};
  return c.json(
    {
      job_id: api.job_id,
      url: job.url,
      final_url: job.final_url,
      custom_id: job.custom_id,
      status: job.status,
      status_code: job.status_code,
      blocked_reason: job.blocked_reason,
      error: job.error,
      timings: api.timings,
      html: obj ? await obj.text() : null,
      ...(meta.evaluate_results ? { evaluate_results: meta.evaluate_results } : {}),
    },
    200,
  );
});

const screenshot = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}/screenshot",
  summary: "A browser job's screenshot (PNG)",
  security,
  request: { params: JobParams },
  responses: {
    200: { content: { "image/png": { schema: z.string().openapi({ format: "binary" }) } }, description: "The screenshot" },
    ...errorResponses,
    ...gone,
  },
});

jobs.openapi(screenshot, async (c) => {
  const p = c.req.valid("param");
  const { row: job } = await ownedJob(c.env, c.get("tenant"), p.id, p.run_id, p.job_id);
  if (!job.screenshot_key) throw new ApiError("not_found", "No screenshot was taken for this job (it needs browser: true and screenshot: true, and a page that loaded).");
  const expired = "The screenshot expired (kept 48 hours after completion).";
  if (bodiesExpired(job.completed_ms, now())) throw new ApiError("gone", expired);
  const obj = await c.env.BODIES.get(job.screenshot_key);
  if (!obj) throw new ApiError("gone", expired);
  return new Response(obj.body, { status: 200, headers: { "content-type": "image/png", "x-content-type-options": "nosniff" } }) as never;
});
