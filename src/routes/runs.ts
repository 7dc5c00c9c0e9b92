import { createRoute } from "@hono/zod-openapi";
import { iso, now } from "../clock";
import { LIMITS, maxJobsInFlight } from "../config";
import { getCollection, type CollectionRow } from "../db/collections";
import { deleteRunWithJobs, insertRunWithJobs, listRuns, toSummary } from "../db/runs";
import { runObject } from "../do/objects";
import { ApiError, notFound } from "../errors";
import type { RunMeta } from "../do/run-coordinator";
import { idempotent, resourceId } from "../idempotency";
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
  const run_id = resourceId(c);
  const createdMs = now();
  const cap = maxJobsInFlight(c.env);
  const inserted = await insertRunWithJobs(c.env.DB, {
    id: run_id, tenant, collection_id: id, created_at: iso(createdMs), deadline_at: iso(runDeadline(createdMs, col)),
    job_prefix: crypto.randomUUID().slice(0, 24), cap,
  });
  if (inserted.kind === "over_cap") {
    const { inFlight, total } = inserted;
    const detail = `This tenant already has ${inFlight} jobs in flight; a run of ${total} would pass the cap of ${cap}`;
    throw new ApiError("rate_limited", `${detail}. Retry when runs complete.`, { headers: { "retry-after": "60" } });
  }
  // A run that existed was created by an earlier attempt with this Idempotency-Key, which may have
  // died before starting it: this attempt finishes the start, with the run's own values.
  const { run } = inserted;
  const meta: RunMeta = {
    run_id, tenant, collection_id: id, total: run.total_requests,
    created_at_ms: Date.parse(run.created_at), deadline_ms: Date.parse(run.deadline_at),
  };
  try {
    await runObject(c.env, run_id).start(meta);
    await dispatchPage(c.env, { run_id, tenant, created_at: run.created_at, after_job_id: "" }, INLINE_DISPATCH);
  } catch (e) {
    // Only a run this attempt created: one an earlier attempt created may already have been answered.
    if (inserted.kind === "created") await undoStart(c.env, tenant, run_id);
    throw e;
  }
  const live = inserted.kind === "existed" ? await runObject(c.env, run_id).snapshot(tenant) : null;
  return c.json(live ?? toSummary(run), 201, { location: `/v1/async/collections/${id}/runs/${run_id}` });
});

/**
 * POST /run either fully starts a run or leaves nothing behind. When the run's Durable Object or
 * the enqueueing of its first jobs fails after the run was written, the start is undone (the DO and
 * its deadline alarm, then the run and job rows) and the client gets a 5xx. Undoing rather than
 * leaving the run for a retry to finish: a client without an Idempotency-Key retries with a new
 * request, so a half-started run would stay behind as a run it never got an answer for; with a
 * key, the retry simply runs again under the same reserved run id. Jobs enqueued before the
 * failure come to nothing: with their rows and their run's DO gone, the consumer has nothing to
 * claim or to count. What an undo cannot cover (the Worker dying mid-way, or the undo failing) a
 * retry with the key covers, since every step is idempotent on the run id: the insert finds the
 * run, start() is a no-op on a started DO, and a job enqueued twice still gets one outcome,
 * counted once. Without a key, the run's deadline alarm or the cron backstop ends such a run.
 */
async function undoStart(env: Env, tenant: string, runId: string) {
  try {
    await runObject(env, runId).destroy();
    await deleteRunWithJobs(env.DB, tenant, runId);
  } catch (e) {
    console.error("undoing a failed run start failed", e);
  }
}

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

