import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock";
import { decodeCursor, encodeCursor } from "../cursor";
import type { JobRow } from "../../do/job-store";
import { runObject } from "../../do/objects";
import { isTerminal } from "../../domain";
import { ApiError, notFound } from "../errors";
import { jobView } from "../views";
import { pageResults, parseResultMeta, storedResultOptions } from "../../kept-results";
import { bodiesExpired, readBody } from "../../storage/bodies";
import { Job, JobList, JobListQuery, JobParams, JobResult, ResultQuery, RunParams } from "../../schemas";
import { conflict, errorResponses, gone, router, security } from "./common";

export const jobs = router();

/**
 * Stored pages are third-party HTML: served so they cannot run script on the API's origin or be
 * sniffed into something else.
 */
const RAW_HEADERS = {
  "content-security-policy": "sandbox",
  "x-content-type-options": "nosniff",
};

const SUBMISSION = "jobs:created_at";
const COMPLETION = "jobs:completed_at";

function submissionAfter(cursor: string | undefined): { seq: number } | undefined {
  const key = decodeCursor(SUBMISSION, cursor, ["position"]);
  return key ? { seq: key[0] as number } : undefined;
}

/**
 * A finished job's place in completion order: its completion instant and its position, the key of
 * `order_by=completed_at`. The listing's `cursor_next` and the event stream's event ids are both
 * this, so either resumes the other.
 */
export const completionCursor = (r: Pick<JobRow, "completed_ms" | "seq">) =>
  encodeCursor(COMPLETION, [r.completed_ms!, r.seq]);

/** The key a completion cursor carries, null without one; CursorError when it is not one. */
export function decodeCompletionCursor(cursor: string | undefined): { completed_ms: number; seq: number } | null {
  const key = decodeCursor(COMPLETION, cursor, ["position", "position"]);
  return key && { completed_ms: key[0] as number, seq: key[1] as number };
}

const list = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs",
  operationId: "listJobs",
  tags: ["Jobs"],
  summary: "Page through a run's jobs",
  description:
    "Keyset pagination. `order_by=completed_at` lists finished jobs in completion order (ties by job_id); " +
    "with `since_completed_at` only jobs completed strictly after that instant, so a client can stream completions.",
  security,
  request: { params: RunParams, query: JobListQuery },
  responses: {
    200: { content: { "application/json": { schema: JobList } }, description: "A page" },
    ...errorResponses,
  },
});

jobs.openapi(list, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const q = c.req.valid("query");
  if (q.order_by === "completed_at" && q.status_filter?.some((s) => !isTerminal(s))) {
    throw new ApiError(
      "validation_failed",
      "order_by=completed_at lists finished jobs only; filter on completed, failed or timeout, or order by created_at.",
      {
        errors: [{ path: "status_filter", message: "only completed, failed, timeout with order_by=completed_at" }],
      },
    );
  }
  if (q.since_completed_at && q.order_by !== "completed_at") {
    throw new ApiError("validation_failed", "since_completed_at needs order_by=completed_at.", {
      errors: [{ path: "since_completed_at", message: "needs order_by=completed_at" }],
    });
  }
  const after =
    q.order_by === "created_at" ? submissionAfter(q.cursor) : (decodeCompletionCursor(q.cursor) ?? undefined);
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
    page.has_more && last
      ? q.order_by === "created_at"
        ? encodeCursor(SUBMISSION, [last.seq])
        : completionCursor(last)
      : null;
  return c.json(
    { items: page.rows.map((r: JobRow) => jobView(page.run, r, t)), has_more: page.has_more, cursor_next },
    200,
  );
});

async function ownedJob(env: Env, tenant: string, collectionId: string, runId: string, jobId: string) {
  const found = await runObject(env, runId).getJob({ tenant, collection_id: collectionId, job_id: jobId });
  if (!found) throw notFound("Job");
  return found;
}

const get = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}",
  operationId: "getJob",
  tags: ["Jobs"],
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

const RAW_TYPES = {
  html: "text/html; charset=utf-8",
  markdown: "text/markdown; charset=utf-8",
  text: "text/plain; charset=utf-8",
} as const;
type RawFormat = keyof typeof RAW_TYPES;

/** `?format=` wins; otherwise the first raw type the Accept header names (JSON by default). */
function rawFormat(format: string | undefined, accept: string): RawFormat | null {
  if (format !== undefined) return format === "json" ? null : (format as RawFormat);
  if (/\btext\/html\b/.test(accept)) return "html";
  if (/\btext\/markdown\b/.test(accept)) return "markdown";
  if (/\btext\/plain\b/.test(accept)) return "text";
  return null;
}

/** Formats made from the page itself, so only while it is kept (48 h). */
const PAGE_FORMATS = ["html", "markdown", "text", "links"];

const result = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}/result",
  operationId: "getJobResult",
  tags: ["Jobs"],
  summary: "A finished job's outcome and its result formats",
  description:
    "JSON by default, with one field per format the request asked for (html, markdown, text, links, " +
    "metadata, extracted). `?format=html|markdown|text` (or `Accept: text/html`, `text/markdown`, " +
    "`text/plain`) answers that format raw, for any finished job, whatever it requested. 409 until the job " +
    "has finished. html, markdown, text and links are made from the page, kept 48 h after completion: after " +
    "that, 410 for them; metadata and extracted are kept with the job (90 days).",
  security,
  request: { params: JobParams, query: ResultQuery },
  responses: {
    200: {
      content: {
        "application/json": { schema: JobResult },
        "text/html": { schema: z.string() },
        "text/markdown": { schema: z.string() },
        "text/plain": { schema: z.string() },
      },
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
  const { run, row: job, spec } = await ownedJob(c.env, c.get("tenant"), p.id, p.run_id, p.job_id);
  if (!isTerminal(job.status)) {
    throw new ApiError("conflict", `The job is ${job.status}; its result is available once it has finished.`, {
      headers: { "retry-after": "2" },
    });
  }
  const opts = storedResultOptions(spec);
  const raw = rawFormat(format, c.req.header("accept") ?? "");
  const needsPage = raw !== null || opts.formats.some((f) => PAGE_FORMATS.includes(f));
  const expiredMsg =
    "The job's page expired (pages are kept 48 hours after completion, and html, markdown, text and links " +
    "are made from it); metadata and extracted stay on the job for 90 days. Run the collection again to " +
    "fetch the page anew.";
  let html: string | null = null;
  if (needsPage) {
    if (bodiesExpired(job.completed_ms, now())) throw new ApiError("gone", expiredMsg);
    const obj = job.body_key ? await readBody(c.env.BODIES, { ...job, body_key: job.body_key }) : null;
    if (job.body_key && !obj) throw new ApiError("gone", expiredMsg);
    html = obj ? await obj.text() : null;
  }
  const baseUrl = job.final_url ?? job.url;
  if (raw !== null) {
    if (html === null) {
      throw new ApiError("not_found", `No page was captured for this job (${job.error ?? "no response body"}).`);
    }
    const body = raw === "html" ? html : pageResults(html, baseUrl, { ...opts, formats: [raw] })[raw]!;
    return new Response(body, { status: 200, headers: { ...RAW_HEADERS, "content-type": RAW_TYPES[raw] } }) as never;
  }
  const made = html === null ? {} : pageResults(html, baseUrl, opts);
  const fromPage = <K extends "markdown" | "text" | "links">(k: K) =>
    opts.formats.includes(k) ? { [k]: made[k] ?? null } : {};
  const api = jobView(run, job, now());
  const meta = parseResultMeta(job.result_meta);
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
      ...(opts.formats.includes("html") ? { html } : {}),
      ...fromPage("markdown"),
      ...fromPage("text"),
      ...fromPage("links"),
      // A job ended without a page (cancelled, out of leases) has no result_meta: null, as asked.
      ...(opts.formats.includes("metadata") ? { metadata: api.metadata ?? null } : {}),
      ...(opts.extract ? { extracted: api.extracted ?? null } : {}),
      ...(api.extract_truncated ? { extract_truncated: true } : {}),
      ...(meta.evaluate_results ? { evaluate_results: meta.evaluate_results } : {}),
    },
    200,
  );
});

const screenshot = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/jobs/{job_id}/screenshot",
  operationId: "getJobScreenshot",
  tags: ["Jobs"],
  summary: "A browser job's screenshot (PNG)",
  security,
  request: { params: JobParams },
  responses: {
    200: {
      content: { "image/png": { schema: z.string().openapi({ format: "binary" }) } },
      description: "The screenshot",
    },
    ...errorResponses,
    ...gone,
  },
});

jobs.openapi(screenshot, async (c) => {
  const p = c.req.valid("param");
  const { row: job } = await ownedJob(c.env, c.get("tenant"), p.id, p.run_id, p.job_id);
  if (!job.screenshot_key)
    throw new ApiError(
      "not_found",
      "No screenshot was taken for this job (it needs browser: true and screenshot: true, and a page that loaded).",
    );
  const expired = "The screenshot expired (kept 48 hours after completion).";
  if (bodiesExpired(job.completed_ms, now())) throw new ApiError("gone", expired);
  const obj = await c.env.BODIES.get(job.screenshot_key);
  if (!obj) throw new ApiError("gone", expired);
  return new Response(obj.body, {
    status: 200,
    headers: { "content-type": "image/png", "x-content-type-options": "nosniff" },
  }) as never;
});
