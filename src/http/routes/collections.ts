import { createRoute } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { now, nowIso } from "../../clock";
import { LIMITS, settings } from "../../config";
import { browserOptions, resultOptions } from "../../domain";
import {
  getCollection,
  getRequests,
  insertCollection,
  listCollections,
  replaceCollection,
  type RequestRow,
} from "../../db/collections";
import { decodeCursor, encodeCursor } from "../cursor";
import { ApiError, notFound, type FieldError } from "../errors";
import { normalizeTargetUrl, targetRefusal } from "../../fetchers/url-guard";
import { idempotent, resourceId } from "../middleware/idempotency";
import { extractNamesOverflow, MAX_EXTRACT_NAMES_PER_COLLECTION } from "../../extract";
import { requestBytes } from "../../sizes";
import { deleteCollection } from "../../storage/deletion";
import {
  Collection,
  CollectionCreated,
  CollectionList,
  CollectionParams,
  CollectionSummary,
  CreateCollectionBody,
  Cursor,
  Limit,
  ReplaceCollectionBody,
  type ScrapeRequest,
} from "../../schemas";
import { z } from "@hono/zod-openapi";
import { conflict, errorResponses, IdempotencyHeaders, location, replayed, router, security, tooLarge } from "./common";
import { webhookJson } from "./webhooks";
import { parseWebhook } from "../../webhooks/messages";

export const collections = router();

const limitBody = bodyLimit({
  maxSize: LIMITS.maxBodyBytes,
  onError: () => {
    throw new ApiError(
      "payload_too_large",
      `The request body is over ${LIMITS.maxBodyBytes / 1024 / 1024} MB; split the requests over several collections.`,
    );
  },
});

/**
 * Normalises URLs, refuses targets the URL guard forbids and requests over the size cap, applies
 * the per-collection limit and drops repeats of the same (normalised url, custom_id).
 */
function prepareRequests(env: Env, requests: ScrapeRequest[]): { rows: RequestRow[]; duplicates: number } {
  const limit = settings(env).MAX_REQUESTS_PER_COLLECTION;
  if (requests.length > limit) {
    throw new ApiError(
      "validation_failed",
      `A collection holds at most ${limit} requests; this one has ${requests.length}. ` +
        "Split it into several collections.",
      {
        errors: [{ path: "requests", message: `at most ${limit} requests` }],
      },
    );
  }
  const seen = new Set<string>();
  const rows: RequestRow[] = [];
  const errors: FieldError[] = [];
  requests.forEach((r, i) => {
    const url = normalizeTargetUrl(r.url);
    const refusal = targetRefusal(url, { allowLoopback: settings(env).LOCAL_DEV });
    if (refusal) errors.push({ path: `requests[${i}].url`, message: refusal });
    const row: RequestRow = {
      url,
      custom_id: r.custom_id ?? null,
      browser: r.browser,
      spec: {
        screenshot: r.screenshot,
        full_page: r.full_page,
        actions: r.actions,
        timeout: r.timeout,
        formats: r.formats,
        only_main_content: r.only_main_content,
        ...(r.extract && Object.keys(r.extract).length > 0 ? { extract: r.extract } : {}),
        ...requestOptionsOf(r),
      },
    };
    // Checked here, where the request is accepted, so every job message built from it later fits
    // a queue message: nothing downstream has to cope with a request too large to send.
    const bytes = requestBytes(row);
    if (bytes > LIMITS.maxRequestBytes) {
      const cap = `${LIMITS.maxRequestBytes} bytes (${LIMITS.maxRequestBytes / 1024} KB)`;
      const message = `${bytes} bytes serialised as JSON (UTF-8); a request is at most ${cap}`;
      errors.push({ path: `requests[${i}]`, message });
    }
    const key = `${url}\u0000${r.custom_id ?? ""}`;
    if (seen.has(key)) return;
    seen.add(key);
    rows.push(row);
  });
  const overflow = extractNamesOverflow(requests);
  if (overflow) {
    const cap = MAX_EXTRACT_NAMES_PER_COLLECTION;
    errors.push({
      path: `requests[${overflow.index}].extract.${overflow.name}`,
      message: `more than ${cap} distinct extract field names in the collection (one export CSV column each)`,
    });
  }
  if (errors.length) {
    throw new ApiError("validation_failed", `Invalid request body: ${errors[0].path}: ${errors[0].message}.`, {
      errors: errors.slice(0, 50),
    });
  }
  return { rows, duplicates: requests.length - rows.length };
}

/** The request options that were given: an absent one stays absent, so specs stay as small as before. */
function requestOptionsOf(r: ScrapeRequest): Partial<RequestRow["spec"]> {
  const given = {
    headers: r.headers && Object.keys(r.headers).length > 0 ? r.headers : undefined,
    cookies: r.cookies?.length ? r.cookies : undefined,
    user_agent: r.user_agent,
    device: r.device,
    wait_until: r.wait_until,
    block_resources: r.block_resources?.length ? r.block_resources : undefined,
  };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

const create = createRoute({
  method: "post",
  path: "/",
  // The body cap runs before anything reads the body; the Idempotency-Key check reads it next.
  middleware: [limitBody, idempotent] as const,
  operationId: "createCollection",
  tags: ["Collections"],
  summary: "Create a collection of page requests",
  description:
    "Stores the requests for runs to come; nothing is fetched until POST .../run. Requests with the same " +
    "(normalised url, custom_id) are kept once (`duplicates_skipped`). Pass an Idempotency-Key to make a retry safe.",
  security,
  request: {
    headers: IdempotencyHeaders,
    body: { content: { "application/json": { schema: CreateCollectionBody } }, required: true },
  },
  responses: {
    201: {
      content: { "application/json": { schema: CollectionCreated } },
      headers: { ...location, ...replayed },
      description: "Created",
    },
    ...errorResponses,
    ...conflict,
    ...tooLarge,
  },
});

collections.openapi(create, async (c) => {
  const body = c.req.valid("json");
  const { rows, duplicates } = prepareRequests(c.env, body.requests);
  const webhook = body.webhook ? webhookJson(c.env, body.webhook, "webhook") : null;
  // Every attempt under one Idempotency-Key creates this id (insertCollection is idempotent on it)
  // from the same body, so a retry that finds the collection created answers as the first would have.
  const id = resourceId(c);
  const politeness = body.politeness ?? {};
  await insertCollection(
    c.env.DB,
    { id, tenant: c.get("tenant"), name: body.name, at: nowIso(), webhook, politeness },
    rows,
  );
  return c.json(
    {
      id,
      name: body.name,
      message: "Collection created successfully.",
      total_requests: rows.length,
      duplicates_skipped: duplicates,
    },
    201,
    { location: `/v1/async/collections/${id}` },
  );
});

const list = createRoute({
  method: "get",
  path: "/",
  operationId: "listCollections",
  tags: ["Collections"],
  summary: "List collections, newest first",
  security,
  request: { query: z.object({ limit: Limit, cursor: Cursor }) },
  responses: {
    200: { content: { "application/json": { schema: CollectionList } }, description: "A page" },
    ...errorResponses,
  },
});

collections.openapi(list, async (c) => {
  const q = c.req.valid("query");
  const after = decodeCursor("collections", q.cursor, ["timestamp", "uuid"]);
  const page = await listCollections(c.env.DB, c.get("tenant"), q.limit, after);
  const last = page.items.at(-1);
  const cursor_next = page.has_more && last ? encodeCursor("collections", [last.created_at, last.id]) : null;
  return c.json({ ...page, cursor_next }, 200);
});

const get = createRoute({
  method: "get",
  path: "/{id}",
  operationId: "getCollection",
  tags: ["Collections"],
  summary: "Get a collection with its requests",
  security,
  request: { params: CollectionParams },
  responses: {
    200: { content: { "application/json": { schema: Collection } }, description: "The collection" },
    ...errorResponses,
  },
});

collections.openapi(get, async (c) => {
  const { id } = c.req.valid("param");
  const col = await getCollection(c.env.DB, c.get("tenant"), id);
  if (!col) throw notFound("Collection");
  const requests = await getRequests(c.env.DB, id);
  return c.json(
    {
      id: col.id,
      name: col.name,
      total_requests: col.total_requests,
      created_at: col.created_at,
      updated_at: col.updated_at,
      politeness: { per_host_concurrency: col.per_host_concurrency, per_host_delay_ms: col.per_host_delay_ms },
      requests: requests.map((r) => ({
        url: r.url,
        browser: r.browser,
        ...r.spec,
        ...resultOptions(r.spec),
        ...browserOptions(r.spec),
        custom_id: r.custom_id,
      })),
      webhook: parseWebhook(col.webhook),
    },
    200,
  );
});

const replace = createRoute({
  method: "put",
  path: "/{id}",
  middleware: [limitBody] as const,
  operationId: "replaceCollection",
  tags: ["Collections"],
  summary: "Replace a collection's requests (for future runs)",
  description: "Runs already started keep the request list they pinned.",
  security,
  request: {
    params: CollectionParams,
    body: { content: { "application/json": { schema: ReplaceCollectionBody } }, required: true },
  },
  responses: {
    200: {
      content: { "application/json": { schema: CollectionSummary.extend({ duplicates_skipped: z.number().int() }) } },
      description: "Replaced",
    },
    ...errorResponses,
    ...tooLarge,
  },
});

collections.openapi(replace, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const col = await getCollection(c.env.DB, c.get("tenant"), id);
  if (!col) throw notFound("Collection");
  const { rows, duplicates } = prepareRequests(c.env, body.requests);
  const webhook = body.webhook ? webhookJson(c.env, body.webhook, "webhook") : body.webhook;
  const politeness = body.politeness ?? {};
  await replaceCollection(c.env.DB, { id, name: body.name, at: nowIso(), webhook, politeness }, rows);
  return c.json(
    {
      id,
      name: body.name ?? col.name,
      total_requests: rows.length,
      created_at: col.created_at,
      duplicates_skipped: duplicates,
    },
    200,
  );
});

const remove = createRoute({
  method: "delete",
  path: "/{id}",
  operationId: "deleteCollection",
  tags: ["Collections"],
  middleware: [idempotent] as const,
  summary: "Delete a collection with its runs and everything stored for them",
  description:
    "Deletes the collection, its request lists and every run of it: job records, pages and screenshots. " +
    "Runs in progress are cancelled first. From the 204 on, every URL of the collection and its runs answers " +
    "404; the stored data is removed in the background within minutes (a run's pages a few minutes after it " +
    "ended, so that none written by a job still finishing is left). A second DELETE is 404; a retry with the " +
    "same Idempotency-Key replays the 204. The tenant's usage is kept.",
  security,
  request: { params: CollectionParams, headers: IdempotencyHeaders },
  responses: {
    204: { description: "Deleted" },
    ...errorResponses,
    ...conflict,
  },
});

collections.openapi(remove, async (c) => {
  const { id } = c.req.valid("param");
  if (!(await deleteCollection(c.env, c.get("tenant"), id, now()))) throw notFound("Collection");
  return c.body(null, 204);
});
