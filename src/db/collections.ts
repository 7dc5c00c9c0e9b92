import type { Politeness } from "../do/host-policy";
import type { JobSpec } from "../domain";
import { chunkBySize, D1_CHUNK_BYTES, utf8Bytes } from "../sizes";

export interface CollectionRow {
  id: string;
  tenant: string;
  name: string;
  total_requests: number;
  browser_requests: number;
  max_timeout_ms: number;
  created_at: string;
  updated_at: string;
  /** The current version of the request list (runs pin the version they started with). */
  requests_version: number;
  /** The webhook of its runs ({ url, events } JSON), or null. */
  webhook: string | null;
  per_host_concurrency: number;
  per_host_delay_ms: number;
}

/** A request as stored: url already normalised, spec holding the rest. */
export interface RequestRow {
  url: string;
  custom_id: string | null;
  browser: boolean;
  spec: JobSpec;
}

/**
 * The request rows as JSON array texts to bind, each with the seq of its first row. D1 caps a
 * bound value in bytes (and a statement at 100 params), so the rows go in as JSON chunks of at most
 * `maxBytes` UTF-8 bytes, each expanded by json_each in one INSERT … SELECT. A row over `maxBytes`
 * alone throws OversizeItem; the request size cap keeps every row far below it.
 */
export function requestChunks(requests: RequestRow[], maxBytes = D1_CHUNK_BYTES): { start: number; json: string }[] {
  const rows = requests.map((r) => {
    const json = JSON.stringify([r.url, r.custom_id, r.browser ? 1 : 0, JSON.stringify(r.spec)]);
    return { json, bytes: utf8Bytes(json) };
  });
  let start = 0;
  return chunkBySize(rows, (r) => r.bytes, { maxBytes, frameBytes: 2, separatorBytes: 1 }).map((chunk) => {
    const out = { start, json: `[${chunk.map((r) => r.json).join(",")}]` };
    start += chunk.length;
    return out;
  });
}

/** Inserts the list as the collection's current version (set by the statement before it in the batch). */
function requestInserts(db: D1Database, collectionId: string, requests: RequestRow[]): D1PreparedStatement[] {
  const stmt = db.prepare(
    `INSERT INTO requests (collection_id, version, seq, url, custom_id, browser, spec)
     SELECT ?1, (SELECT requests_version FROM collections WHERE id = ?1), ?2 + CAST(key AS INTEGER),
            json_extract(value, '$[0]'), json_extract(value, '$[1]'),
            json_extract(value, '$[2]'), json_extract(value, '$[3]')
     FROM json_each(?3)`,
  );
  return requestChunks(requests).map((c) => stmt.bind(collectionId, c.start, c.json));
}

const summaryOf = (requests: RequestRow[]) => ({
  total: requests.length,
  browser: requests.filter((r) => r.browser).length,
  maxTimeout: requests.reduce((m, r) => Math.max(m, r.spec.timeout), 0),
});

/**
 * Creates the collection and all its requests in one atomic batch. Idempotent on the id (which an
 * Idempotency-Key reserves for all attempts of one request): when an earlier attempt already
 * created it, this batch fails on the primary key and changes nothing, and the collection it
 * finds under the id counts as done.
 */
export async function insertCollection(
  db: D1Database,
  c: { id: string; tenant: string; name: string; at: string; webhook?: string | null; politeness: Partial<Politeness> },
  requests: RequestRow[],
): Promise<void> {
  const s = summaryOf(requests);
  try {
    await db.batch([
      db
        .prepare(
          `INSERT INTO collections (id, tenant, name, total_requests, browser_requests, max_timeout_ms, created_at,
             updated_at, webhook, per_host_concurrency, per_host_delay_ms)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, COALESCE(?9, 6), COALESCE(?10, 0))`,
        )
        .bind(
          c.id,
          c.tenant,
          c.name,
          s.total,
          s.browser,
          s.maxTimeout,
          c.at,
          c.webhook ?? null,
          c.politeness.per_host_concurrency ?? null,
          c.politeness.per_host_delay_ms ?? null,
        ),
      ...requestInserts(db, c.id, requests),
    ]);
  } catch (e) {
    // Also covers a batch that committed although its answer was lost.
    if (!(await getCollection(db, c.tenant, c.id))) throw e;
  }
}

/**
 * Replaces the request list (and optionally the name) atomically, as a new version. Older versions
 * go unless a run in progress pinned them (its object may still be copying the list); such a
 * version is deleted when the last run pinning it ends (see finishRunSync). `webhook` undefined
 * keeps the collection's webhook, null removes it.
 */
export async function replaceCollection(
  db: D1Database,
  c: { id: string; name?: string; at: string; webhook?: string | null; politeness: Partial<Politeness> },
  requests: RequestRow[],
) {
  const s = summaryOf(requests);
  await db.batch([
    db
      .prepare(
        `UPDATE collections SET name = COALESCE(?2, name), total_requests = ?3, browser_requests = ?4,
           max_timeout_ms = ?5, updated_at = ?6, requests_version = requests_version + 1,
           webhook = CASE WHEN ?7 THEN ?8 ELSE webhook END,
           per_host_concurrency = COALESCE(?9, per_host_concurrency),
           per_host_delay_ms = COALESCE(?10, per_host_delay_ms)
         WHERE id = ?1`,
      )
      .bind(
        c.id,
        c.name ?? null,
        s.total,
        s.browser,
        s.maxTimeout,
        c.at,
        c.webhook !== undefined ? 1 : 0,
        c.webhook ?? null,
        c.politeness.per_host_concurrency ?? null,
        c.politeness.per_host_delay_ms ?? null,
      ),
    db
      .prepare(
        `DELETE FROM requests WHERE collection_id = ?1
           AND version < (SELECT requests_version FROM collections WHERE id = ?1)
           AND version NOT IN (SELECT requests_version FROM runs WHERE collection_id = ?1 AND status = 'in_progress')`,
      )
      .bind(c.id),
    ...requestInserts(db, c.id, requests),
  ]);
}

/** A tenant's collection, unless it does not exist or was deleted (its deletion may still be under way). */
export const getCollection = (db: D1Database, tenant: string, id: string) =>
  db
    .prepare("SELECT * FROM collections WHERE id = ?1 AND tenant = ?2 AND deleted_at IS NULL")
    .bind(id, tenant)
    .first<CollectionRow>();

export async function getRequests(db: D1Database, collectionId: string): Promise<RequestRow[]> {
  const { results } = await db
    .prepare(
      `SELECT url, custom_id, browser, spec FROM requests
       WHERE collection_id = ?1 AND version = (SELECT requests_version FROM collections WHERE id = ?1) ORDER BY seq`,
    )
    .bind(collectionId)
    .all<{ url: string; custom_id: string | null; browser: number; spec: string }>();
  return results.map((r) => ({
    url: r.url,
    custom_id: r.custom_id,
    browser: r.browser === 1,
    spec: JSON.parse(r.spec),
  }));
}

/** One page of a tenant's collections, newest first, keyset on (created_at, id), with the tenant's total. */
export async function listCollections(
  db: D1Database,
  tenant: string,
  limit: number,
  after: (string | number)[] | null,
) {
  const page = after
    ? db
        .prepare(
          `SELECT id, name, total_requests, created_at FROM collections
           WHERE tenant = ?1 AND deleted_at IS NULL AND (created_at, id) < (?2, ?3)
           ORDER BY created_at DESC, id DESC LIMIT ?4`,
        )
        .bind(tenant, after[0], after[1], limit + 1)
    : db
        .prepare(
          `SELECT id, name, total_requests, created_at FROM collections
           WHERE tenant = ?1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?2`,
        )
        .bind(tenant, limit + 1);
  const [rows, count] = await db.batch([
    page,
    db.prepare("SELECT count(*) AS n FROM collections WHERE tenant = ?1 AND deleted_at IS NULL").bind(tenant),
  ]);
  const items = rows.results as { id: string; name: string; total_requests: number; created_at: string }[];
  const has_more = items.length > limit;
  if (has_more) items.pop();
  return { items, total: (count.results[0] as { n: number }).n, has_more };
}

/**
 * Marks a tenant's collection deleted: from this statement on every read of it and of its runs
 * answers 404 and no run of it can start (insertRun checks the mark in the same statement). Returns
 * false when the tenant has no such collection, or it was deleted already.
 */
export async function markCollectionDeleted(db: D1Database, tenant: string, id: string, at: string): Promise<boolean> {
  const r = await db
    .prepare("UPDATE collections SET deleted_at = ?3 WHERE id = ?1 AND tenant = ?2 AND deleted_at IS NULL")
    .bind(id, tenant, at)
    .run();
  return r.meta.changes > 0;
}

/** Collections marked deleted whose deletion is not finished, the oldest mark first. */
export const deletedCollections = (db: D1Database, limit: number) =>
  db
    .prepare("SELECT id, tenant, deleted_at FROM collections WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT ?1")
    .bind(limit)
    .all<{ id: string; tenant: string; deleted_at: string }>()
    .then((r) => r.results);

/**
 * Deletes up to `limit` request rows of a deleted collection, any version; returns how many. A
 * page keeps each statement's work bounded whatever the lists' size (100,000 requests a version).
 */
export async function deleteRequestsPage(db: D1Database, collectionId: string, limit: number): Promise<number> {
  const r = await db
    .prepare(
      `DELETE FROM requests WHERE collection_id = ?1 AND (version, seq) IN
         (SELECT version, seq FROM requests WHERE collection_id = ?1 LIMIT ?2)`,
    )
    .bind(collectionId, limit)
    .run();
  return r.meta.changes;
}

/**
 * The last step of a collection's deletion: its row, only once none of its runs and requests is
 * left (the row is the record that the deletion still has work to do).
 */
export async function deleteCollectionRow(db: D1Database, id: string): Promise<boolean> {
  const r = await db
    .prepare(
      `DELETE FROM collections WHERE id = ?1 AND deleted_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM runs WHERE collection_id = ?1)
         AND NOT EXISTS (SELECT 1 FROM requests WHERE collection_id = ?1)`,
    )
    .bind(id)
    .run();
  return r.meta.changes > 0;
}
