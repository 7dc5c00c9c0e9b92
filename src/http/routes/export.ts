import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock";
import { runObject } from "../../do/objects";
import type { JobRow, RunState } from "../../do/job-store";
import { type JobStatus, TERMINAL } from "../../domain";
import { pageResults, storedResultOptions } from "../../kept-results";
import { mapLimit } from "../../queue/pool";
import { ExportQuery, RunParams } from "../../schemas";
import { bodiesExpired, readBody } from "../../storage/bodies";
import { notFound } from "../errors";
import { csvHeader, csvRow, type ExportInclude, type ExportItem, ndjsonLine } from "../export-format";
import { jobView } from "../views";
import { errorResponses, router, security } from "./common";

export const exportRoutes = router();

/**
 * Jobs per read of the run's object. With markdown each job's page is read and converted, so a
 * page of jobs holds that many pages in memory: fewer per read keeps the export's memory flat.
 */
const PAGE = 200;
const MARKDOWN_PAGE = 10;
/** Page reads from R2 at once when converting to markdown. */
const BODY_READS = 5;

const TYPES = {
  ndjson: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8; header=present",
} as const;

const route = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/export",
  operationId: "exportRun",
  tags: ["Jobs"],
  summary: "Download a run's jobs (NDJSON or CSV)",
  description:
    "A streamed download of the run's jobs in submission order: by default those finished so far " +
    "(completed, failed, timeout); `status_filter` picks others. NDJSON: one Job per line plus the " +
    "included fields (null when absent). CSV (RFC 4180, UTF-8, header row): job_id, custom_id, url, status, " +
    "status_code, final_url, blocked_reason, error, attempts, created_at, started_at, completed_at, total_ms; " +
    "then `title` with include=metadata; then one `extracted.<name>` column per extract field of the run's " +
    "requests (lists joined by a newline) with include=extracted; then `markdown` with include=markdown " +
    "(null/empty once the page expired, 48 h). The extract columns are the field names of the jobs created " +
    "when the export starts, in order of first appearance; an export of a run in progress holds the jobs " +
    "that had been created when it started and had finished when read.",
  security,
  request: { params: RunParams, query: ExportQuery },
  responses: {
    200: {
      content: {
        "application/x-ndjson": { schema: z.string().openapi({ description: "One JSON object (a Job) per line" }) },
        "text/csv": { schema: z.string().openapi({ description: "RFC 4180 CSV with a header row" }) },
      },
      headers: {
        "Content-Disposition": {
          description: 'attachment; filename="run-<run_id>.<ext>"',
          schema: { type: "string" as const },
        },
      },
      description: "The export, as an attachment",
    },
    ...errorResponses,
  },
});

exportRoutes.openapi(route, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const q = c.req.valid("query");
  const include = (q.include ?? []) as ExportInclude[];
  const statuses: JobStatus[] = q.status_filter ?? [...TERMINAL];
  const limit = include.includes("markdown") ? MARKDOWN_PAGE : PAGE;
  const obj = runObject(c.env, run_id);
  const query = { tenant: c.get("tenant"), collection_id: id, statuses, limit };
  // The first page is read before answering, so an unknown run (or another tenant's) is a 404 problem.
  const first = await obj.exportPage({ ...query, after_seq: -1, up_to: null });
  if (!first) throw notFound("Run");
  const { fields, up_to } = first;
  const env = c.env;
  let page: typeof first | null = first;
  let headerDone = false;
  const enc = new TextEncoder();

  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let out = "";
      if (!headerDone && q.format === "csv") out += csvHeader(include, fields);
      headerDone = true;
      if (!page) {
        controller.close();
        return;
      }
      const items = await exportItems(env, page.run, page.rows, include);
      for (const item of items) out += q.format === "csv" ? csvRow(item, include, fields) : ndjsonLine(item, include);
      const last = page.rows.at(-1);
      if (page.has_more && last) {
        const next = await obj.exportPage({ ...query, after_seq: last.seq, up_to });
        // The run's retention ended mid-export: what was written stays, nothing more is.
        page = next;
      } else page = null;
      if (out) controller.enqueue(enc.encode(out));
      if (!page) controller.close();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: {
      "content-type": TYPES[q.format],
      "content-disposition": `attachment; filename="run-${run_id}.${q.format}"`,
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
    },
  }) as never;
});

type SpecRow = JobRow & { spec: string };

async function exportItems(env: Env, run: RunState, rows: SpecRow[], include: readonly ExportInclude[]) {
  const t = now();
  if (!include.includes("markdown")) return rows.map((r): ExportItem => ({ job: jobView(run, r, t) }));
  return mapLimit(
    rows,
    BODY_READS,
    async (r): Promise<ExportItem> => ({
      job: jobView(run, r, t),
      markdown: await markdownOf(env, r, t),
    }),
  );
}

/** A job's markdown from its stored page, one ranged read of its pack; null without a page or once it expired. */
async function markdownOf(env: Env, r: SpecRow, t: number): Promise<string | null> {
  if (!r.body_key || bodiesExpired(r.completed_ms, t)) return null;
  const body = await readBody(env.BODIES, { ...r, body_key: r.body_key });
  if (!body) return null;
  const opts = storedResultOptions(r.spec);
  return pageResults(await body.text(), r.final_url ?? r.url, { ...opts, formats: ["markdown"] }).markdown ?? null;
}
