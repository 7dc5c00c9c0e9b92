import { createRoute } from "@hono/zod-openapi";
import { iso, now } from "../../clock";
import { settings } from "../../config";
import { getCollection } from "../../db/collections";
import { decodeCursor, encodeCursor } from "../cursor";
import { deleteRun, insertRun, listRuns } from "../../db/runs";
import { runObject } from "../../do/objects";
import { startOf } from "../../do/run-coordinator";
import { ApiError, notFound } from "../errors";
import { runSummaryOfRow, runView, webhookState } from "../views";
import { idempotent, resourceId } from "../middleware/idempotency";
import { CollectionParams, RunList, RunListQuery, RunParams, RunSummary, StartRunBody } from "../../schemas";
import { webhookJson } from "./webhooks";
import { conflict, errorResponses, IdempotencyHeaders, location, replayed, router, security } from "./common";

export const runs = router();

const start = createRoute({
  method: "post",
  path: "/{id}/run",
  middleware: [idempotent] as const,
  operationId: "startRun",
  tags: ["Runs"],
  summary: "Start a run of the collection",
  description:
    "Each call starts a new run; pass an Idempotency-Key to make a retry safe. The body is optional: " +
    "`politeness` overrides the collection's for this run.",
  security,
  request: {
    params: CollectionParams,
    headers: IdempotencyHeaders,
    body: { content: { "application/json": { schema: StartRunBody } }, required: false },
  },
  responses: {
    201: {
      content: { "application/json": { schema: RunSummary } },
      headers: { ...location, ...replayed },
      description: "Started",
    },
    ...errorResponses,
    ...conflict,
  },
});

/**
 * All or nothing: the D1 row (with the in-flight cap checked in the same statement), then the run's
 * object, which pins the request list, creates its first page of jobs and releases the first window.
 * Every step is idempotent on the run id, which an Idempotency-Key reserves for all attempts of one
 * request: a retry finds the row, and start() on a started object only makes sure it is moving.
 */
runs.openapi(start, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const tenant = c.get("tenant");
  const col = await getCollection(c.env.DB, tenant, id);
  if (!col) throw notFound("Collection");
  const webhook = body.webhook ? webhookJson(c.env, body.webhook, "webhook") : null;
  const run_id = resourceId(c);
  const cap = settings(c.env).MAX_JOBS_IN_FLIGHT;
  const politeness = body.politeness ?? {};
  const created_at = iso(now());
  const inserted = await insertRun(c.env.DB, {
    id: run_id,
    tenant,
    collection_id: id,
    created_at,
    cap,
    webhook,
    politeness,
  });
  if (inserted.kind === "over_cap") {
    const detail =
      `This tenant already has ${inserted.in_flight} jobs in flight; ` +
      `a run of ${inserted.total} would pass the cap of ${cap}`;
    throw new ApiError("rate_limited", `${detail}. Retry when runs complete.`, { headers: { "retry-after": "60" } });
  }
  const { run } = inserted;
  const object = runObject(c.env, run_id);
  try {
    await object.start(startOf(run, { browser_total: col.browser_requests, tenant_runs: inserted.tenant_runs }));
  } catch (e) {
    // Only a run this attempt created: one an earlier attempt created may already have been answered.
    if (inserted.kind === "created") await undoStart(c.env, tenant, run_id);
    throw e;
  }
  const live = inserted.kind === "existed" ? await object.snapshot(tenant) : null;
  // A run just created has not ended, so its run.completed (if it has a webhook) is still to come.
  const hook = webhookState(run.webhook, null);
  return c.json(live ? runView(live) : { ...runSummaryOfRow(run), webhook: hook }, 201, {
    location: `/v1/async/collections/${id}/runs/${run_id}`,
  });
});

/**
 * POST /run either fully starts a run or leaves nothing behind: when the run's object cannot be
 * started after the row was written, the object (with its alarm) and then the row are removed and
 * the client gets a 5xx. Undoing rather than leaving the run for a retry to finish, because a client
 * without an Idempotency-Key retries with a new request; with a key, the retry runs again under the
 * same reserved id. Jobs the object released before the failure come to nothing: their run is gone,
 * so recording them counts nothing. If the undo itself fails, the row stays in progress and the
 * cron's backstop resumes the run from it.
 */
async function undoStart(env: Env, tenant: string, runId: string) {
  try {
    await runObject(env, runId).destroy();
    await deleteRun(env.DB, tenant, runId);
  } catch (e) {
    console.error("undoing a failed run start failed", e);
  }
}

const list = createRoute({
  method: "get",
  path: "/{id}/runs",
  operationId: "listRuns",
  tags: ["Runs"],
  summary: "List a collection's runs, newest first",
  description: "`status_filter=in_progress` finds the run to reattach to when the response to POST /run was lost.",
  security,
  request: { params: CollectionParams, query: RunListQuery },
  responses: {
    200: { content: { "application/json": { schema: RunList } }, description: "A page" },
    ...errorResponses,
  },
});

runs.openapi(list, async (c) => {
  const { id } = c.req.valid("param");
  const q = c.req.valid("query");
  const tenant = c.get("tenant");
  // The key lookup answered 404 already for a collection the tenant does not have (or deleted).
  const after = decodeCursor("runs", q.cursor, ["timestamp", "uuid"]);
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
  return runView(snap);
}

const get = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}",
  operationId: "getRun",
  tags: ["Runs"],
  summary: "A run's status with live counters",
  description: "On a completed run `total_requests = success_requests + failed_requests + timeout_requests`.",
  security,
  request: { params: RunParams },
  responses: {
    200: { content: { "application/json": { schema: RunSummary } }, description: "The run" },
    ...errorResponses,
  },
});

runs.openapi(get, async (c) => {
  const { id, run_id } = c.req.valid("param");
  return c.json(await liveRun(c.env, c.get("tenant"), id, run_id), 200);
});

const cancel = createRoute({
  method: "post",
  path: "/{id}/runs/{run_id}/cancel",
  operationId: "cancelRun",
  tags: ["Runs"],
  summary: "Cancel a run",
  description:
    'Unfinished jobs end as failed with error "cancelled"; the counters still add up to the total. ' +
    "Cancelling a finished run changes nothing.",
  security,
  request: { params: RunParams },
  responses: {
    200: { content: { "application/json": { schema: RunSummary } }, description: "The run after cancelling" },
    ...errorResponses,
  },
});

runs.openapi(cancel, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const tenant = c.get("tenant");
  await liveRun(c.env, tenant, id, run_id);
  const after = await runObject(c.env, run_id).cancel(tenant);
  if (!after) throw notFound("Run");
  return c.json(runView(after), 200);
});
