import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock";
import { runObject } from "../../do/objects";
import type { ExportPage } from "../../do/run-coordinator";
import { type JobStatus, TERMINAL } from "../../domain";
import { ExportQuery, RunParams } from "../../schemas";
import { ApiError, notFound, problemBody } from "../errors";
import {
  csvColumnCount,
  csvError,
  csvHeader,
  csvRow,
  type ExportInclude,
  ndjsonError,
  ndjsonLine,
} from "../export-format";
import { jobView } from "../views";
import { errorResponses, router, security } from "./common";

export const exportRoutes = router();

/**
 * Jobs per read of the run's object; the object also stops a page at EXPORT_PAGE_BYTES (4 MB), so
 * the export holds one page at a time whatever its jobs carry.
 */
const PAGE = 500;
/**
 * Reads of the run's object one export response makes at most: each is a subrequest of this
 * invocation (the R2 GETs for kept Markdown are made by the object, within its own call). 100,000
 * jobs take 200 reads at 500 a page; past this many (about 3.6 GB of pages at 4 MB) the export ends
 * with its error record rather than failing at the platform's limit of 1,000.
 */
export const EXPORT_MAX_READS = 900;

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
    "requests (lists joined by a newline) with include=extracted; then `markdown` with include=markdown: " +
    "the Markdown made when the job ran, for a job whose request asked for the `markdown` format (null/empty " +
    "for the others, and once the page expired, 48 h). The extract columns are the field names of the jobs created " +
    "when the export starts, in order of first appearance; an export of a run in progress holds the jobs " +
    "that had been created when it started and had finished when read. A failure after the response " +
    "began (the status and headers are sent) ends the download with one last record and then a broken " +
    'transfer: in NDJSON the line `{"error": <problem details>}`; in CSV a record whose job_id is `#error` ' +
    "and whose custom_id column holds the problem details as JSON. A download without that record and " +
    "without a transfer error is complete.",
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
  const obj = runObject(c.env, run_id);
  const query = {
    tenant: c.get("tenant"),
    collection_id: id,
    statuses,
    limit: PAGE,
    markdown: include.includes("markdown"),
  };
  // The first page is read before answering, so an unknown run (or another tenant's) is a 404 problem.
  const first = await obj.exportPage({ ...query, after_seq: -1, up_to: null });
  if (!first) throw notFound("Run");
  const { fields, up_to } = first;
  const csv = q.format === "csv";
  let page: ExportPage | null = first;
  let reads = 1;
  let written = 0;
  const enc = new TextEncoder();
  const next = async (after_seq: number): Promise<ExportPage | null> => {
    if (reads >= EXPORT_MAX_READS) {
      throw new ApiError(
        "payload_too_large",
        `The export stopped after ${written} jobs: one download reads the run at most ${EXPORT_MAX_READS} ` +
          "times. Export the rest by status (status_filter) or without markdown.",
      );
    }
    reads++;
    const p = await obj.exportPage({ ...query, after_seq, up_to });
    if (p) return p;
    // Deleted (DELETE, or retention) while being exported: what was written stays, and says it is not all.
    throw new ApiError("gone", `The run was deleted after ${written} jobs were exported; the export is incomplete.`);
  };

  const write = (text: string) => writer.write(enc.encode(text));
  // A native pipe: a write resolves once the response has taken its bytes, so the export holds one
  // page at a time, and the error record is on its way before the transfer is failed.
  const { readable, writable } = new IdentityTransformStream();
  const writer = writable.getWriter();
  const produce = async () => {
    if (csv) await write(csvHeader(include, fields));
    while (page) {
      const t = now();
      let out = "";
      for (const [i, r] of page.rows.entries()) {
        const item = { job: jobView(page.run, r, t), markdown: page.markdown?.[i] ?? null };
        out += csv ? csvRow(item, include, fields) : ndjsonLine(item, include);
      }
      if (out) await write(out);
      written += page.rows.length;
      const last = page.rows.at(-1);
      page = page.has_more && last ? await next(last.seq) : null;
    }
    await writer.close();
  };
  const finished = produce().catch(async (e) => {
    // The status and headers are out: the error can only be said in the body, and by failing the
    // transfer so the client sees it end in error instead of looking complete.
    const err =
      e instanceof ApiError
        ? e
        : new ApiError("unavailable", `The export failed after ${written} jobs and is incomplete; retry the request.`);
    if (!(e instanceof ApiError)) console.error("export failed mid-stream", e);
    const record = csv ? csvError(problemBody(err), csvColumnCount(include, fields)) : ndjsonError(problemBody(err));
    // A client that went away fails these too: nothing is left to tell.
    await write(record).catch(() => undefined);
    await writer.abort(err).catch(() => undefined);
  });
  c.executionCtx.waitUntil(finished);
  return new Response(readable, {
    status: 200,
    headers: {
      "content-type": TYPES[q.format],
      "content-disposition": `attachment; filename="run-${run_id}.${q.format}"`,
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
    },
  }) as never;
});
