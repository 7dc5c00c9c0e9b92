import type { RequestRow } from "../do/job-store";

/** One page of a pinned request list, in submission order from `fromSeq`: a range of the primary key. */
export const requestsPage = (db: D1Database, collectionId: string, version: number, fromSeq: number, limit: number) =>
  db
    .prepare(
      `SELECT seq, url, custom_id, browser, spec FROM requests
       WHERE collection_id = ?1 AND version = ?2 AND seq >= ?3 ORDER BY seq LIMIT ?4`,
    )
    .bind(collectionId, version, fromSeq, limit)
    .all<RequestRow>()
    .then((r) => r.results);
