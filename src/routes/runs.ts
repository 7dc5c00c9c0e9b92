import { createRoute } from "@hono/zod-openapi";
import { iso, now } from "../clock";
import { settings } from "../config";
import { getCollection } from "../db/collections";
import { decodeCursor, encodeCursor } from "../db/cursor";
import { deleteRun, insertRun, listRuns } from "../db/runs";
import { runObject } from "../do/objects";
import { ApiError, notFound } from "../errors";
import { runSummary, runSummaryOfRow } from "../http/views";
import { idempotent } from "../idempotency";
import { CollectionParams, RunList, RunListQuery, RunParams, RunSummary } from "../schemas";
import { conflict, errorResponses, IdempotencyHeaders, router, security } from "./common";

export const runs = router();
runs.post("/:id/run", idempotent);

const start = createRoute({
  method: "post",
  path: "/{id}/run",
  summary: "Start a run of the collection",
  description: "Each call starts a new run; pass an Idempotency-Key to make a retry safe.",
  security,
  request: { params: CollectionParams, headers: IdempotencyHeaders },
  responses: { 201: { content: { "application/json": { schema: RunSummary } }, description: "Started" }, ...errorResponses, ...conflict },
});

/**
 * All or nothing: the D1 row (with the in-flight cap checked in the same statement), then the run's
 * object, which pins the request list, creates its first page of jobs and releases the first
 * window. If the object cannot be started, the row is removed again and the client sees an error,
 * so no run exists that nothing will ever move.
 */
runs.openapi(start, async (c) => {
  const { id } = c.req.valid("param");
  const tenant = c.get("tenant");
  const col = await getCollection(c.env.DB, tenant, id);
  if (!col) throw notFound("Collection");
  const createdMs = now();
  const run_id = crypto.randomUUID();
  const cap = settings(c.env).MAX_JOBS_IN_FLIGHT;
  const inserted = await insertRun(c.env.DB, { id: run_id, tenant, collection_id: id, created_at: iso(createdMs), cap });
  if (inserted.kind === "over_cap") {
    throw new ApiError(
      "rate_limited",
      `This tenant already has ${inserted.in_flight} jobs in flight; a run of ${col.total_requests} would pass the cap of ${cap}. Retry when runs complete.`,
      { headers: { "retry-after": "60" } },
    );
  }
  const object = runObject(c.env, run_id);
  try {
    await object.start({
      run_id, tenant, collection_id: id, job_prefix: run_id.slice(0, 24),
      requests_version: inserted.requests_version, total: inserted.total, browser_total: col.browser_requests,
      created_ms: createdMs, tenant_runs: inserted.tenant_runs,
    });
  } catch (e) {
    await object.destroy().catch(() => undefined);
    await deleteRun(c.env.DB, run_id);
    throw e;
  }
  return c.json(
    {
      run_id, status: "in_progress" as const, total_requests: inserted.total, success_requests: 0, failed_requests: 0,
      timeout_requests: 0, collection_id: id, created_at: iso(createdMs), completed_at: null,
    },
    201,
    { location: `/v1/async/collections/${id}/runs/${run_id}` },
  );
});

const list = createRoute({
  method: "get",
  path: "/{id}/runs",
  summary: "List a collection's runs, newest first",
  description: "`status_filter=in_progress` finds the run to reattach to when the response to POST /run was lost.",
  security,
  request: { params: CollectionParams, query: RunListQuery },
  responses: { 200: { content: { "application/json": { schema: RunList } }, description: "A page" }, ...errorResponses },
});

runs.openapi(list, async (c) => {
  const { id } = c.req.valid("param");
  const q = c.req.valid("query");
  const tenant = c.get("tenant");
  if (!(await getCollection(c.env.DB, tenant, id))) throw notFound("Collection");
  const after = decodeCursor("runs", q.cursor, 2) as [string, string] | null;
  const page = await listRuns(c.env.DB, { tenant, collectionId: id, statuses: q.status_filter, limit: q.limit, after });
  const last = page.rows.at(-1);
  return c.json(
    {
      total: page.total,
      items: page.rows.map(runSummaryOfRow),
      has_more: page.has_more,
      cursor_next: page.has_more && last ? encodeCursor("runs", [last.created_at, last.id]) : null,
    },
    200,
  );
});

async function liveRun(env: Env, tenant: string, collectionId: string, runId: string) {
  const snap = await runObject(env, runId).snapshot(tenant);
  if (!snap || snap.collection_id !== collectionId) throw notFound("Run");
  return runSummary(snap);
}

const get = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}",
  summary: "A run's status with live counters",
  security,
  request: { params: RunParams },
  responses: { 200: { content: { "application/json": { schema: RunSummary } }, description: "The run" }, ...errorResponses },
});

runs.openapi(get, async (c) => {
  const { id, run_id } = c.req.valid("param");
  return c.json(await liveRun(c.env, c.get("tenant"), id, run_id), 200);
});

const cancel = createRoute({
  method: "post",
  path: "/{id}/runs/{run_id}/cancel",
  summary: "Cancel a run",
  description: "Unfinished jobs are not run and end as failed with error \"cancelled\"; the counters still add up to the total. Cancelling a finished run changes nothing.",
  security,
  request: { params: RunParams },
  responses: { 200: { content: { "application/json": { schema: RunSummary } }, description: "The run after cancelling" }, ...errorResponses },
});

runs.openapi(cancel, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const tenant = c.get("tenant");
  await liveRun(c.env, tenant, id, run_id);
  const after = await runObject(c.env, run_id).cancel(tenant);
  if (!after) throw notFound("Run");
  return c.json(runSummary(after), 200);
});

