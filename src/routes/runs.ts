import { createRoute } from "@hono/zod-openapi";
import { iso, now } from "../clock";
import { LIMITS, maxJobsInFlight } from "../config";
import { getCollection, type CollectionRow } from "../db/collections";
import { insertRunWithJobs, jobsInFlight, listRuns } from "../db/runs";
import { runObject } from "../do/objects";
import { ApiError, notFound } from "../errors";
import { idempotent } from "../idempotency";
import { dispatchPage } from "../queue/producer";
import { CollectionParams, RunList, RunListQuery, RunParams, RunSummary } from "../schemas";
import { conflict, errorResponses, IdempotencyHeaders, router, security } from "./common";

export const runs = router();
runs.post("/:id/run", idempotent);

/** Jobs enqueued by POST /run itself; the rest fan out through dispatch messages. */
const INLINE_DISPATCH = 100;

/**
 * A run's deadline: 10 minutes of slack, plus every attempt of the slowest job, plus a throughput
 * floor per job (fetch jobs 50 ms, browser jobs 2 s). The run's DO ends whatever is unfinished
 * then as timeout, so no run stays in progress forever.
 */
export function runDeadline(createdMs: number, c: Pick<CollectionRow, "total_requests" | "browser_requests" | "max_timeout_ms">): number {
  const fetchJobs = c.total_requests - c.browser_requests;
  return (
    createdMs +
    10 * 60_000 +
    LIMITS.maxAttempts * (c.max_timeout_ms + LIMITS.retryCapSeconds * 1000) +
    fetchJobs * 50 +
    c.browser_requests * 2_000
  );
}

const start = createRoute({
  method: "post",
  path: "/{id}/run",
  summary: "Start a run of the collection",
  description: "Each call starts a new run; pass an Idempotency-Key to make a retry safe.",
  security,
  request: { params: CollectionParams, headers: IdempotencyHeaders },
  responses: { 201: { content: { "application/json": { schema: RunSummary } }, description: "Started" }, ...errorResponses, ...conflict },
});

runs.openapi(start, async (c) => {
  const { id } = c.req.valid("param");
  const tenant = c.get("tenant");
  const col = await getCollection(c.env.DB, tenant, id);
  if (!col) throw notFound("Collection");
  const inFlight = await jobsInFlight(c.env.DB, tenant);
  const cap = maxJobsInFlight(c.env);
  if (inFlight + col.total_requests > cap) {
    throw new ApiError("rate_limited", `This tenant already has ${inFlight} jobs in flight; a run of ${col.total_requests} would pass the cap of ${cap}. Retry when runs complete.`, {
      headers: { "retry-after": "60" },
    });
  }
  const createdMs = now();
  const created_at = iso(createdMs);
  const run_id = crypto.randomUUID();
  const deadline = runDeadline(createdMs, col);
  const total = await insertRunWithJobs(c.env.DB, {
    id: run_id, tenant, collection_id: id, created_at, deadline_at: iso(deadline), job_prefix: crypto.randomUUID().slice(0, 24),
  });
  await runObject(c.env, run_id).start({ run_id, tenant, collection_id: id, total, created_at_ms: createdMs, deadline_ms: deadline });
  await dispatchPage(c.env, { run_id, tenant, created_at, after_job_id: "" }, INLINE_DISPATCH);
  return c.json(
    {
      run_id, status: "in_progress" as const, total_requests: total, success_requests: 0, failed_requests: 0, timeout_requests: 0,
      collection_id: id, created_at, completed_at: null,
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
  return c.json(await listRuns(c.env.DB, tenant, id, q.status_filter, q.limit, q.cursor), 200);
});

async function liveRun(env: Env, tenant: string, collectionId: string, runId: string) {
  const snap = await runObject(env, runId).snapshot(tenant);
  if (!snap || snap.collection_id !== collectionId) throw notFound("Run");
  return snap;
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
  return c.json(after, 200);
});

