import { LIMITS } from "../config";
import type { Budget } from "./budget";

/**
 * R2 key scheme, under `bodies/<UTC hour of completion>/<tenant>/<run_id>/`:
 * - `<uuid>.pack`: the HTML of one recorded batch of jobs, concatenated; each job keeps its byte
 *   range, read back with a ranged GET;
 * - `<job_id>-a<attempt>.png`: a screenshot.
 * The hour prefix lets the retention sweep delete whole expired hours by listing only them. Keys
 * are never reused, so a late duplicate attempt cannot overwrite the body of the attempt that won.
 */
const prefixOf = (atMs: number, tenant: string, runId: string) => runHourPrefix(hourOf(atMs), tenant, runId);
/** Where a run's pages and screenshots of one UTC hour are: what the deletion of its collection lists. */
export const runHourPrefix = (hour: string, tenant: string, runId: string) => `bodies/${hour}/${tenant}/${runId}/`;
export const packKey = (atMs: number, tenant: string, runId: string) =>
  `${prefixOf(atMs, tenant, runId)}${crypto.randomUUID()}.pack`;
export const screenshotKey = (atMs: number, tenant: string, runId: string, jobId: string, attempt: number) =>
  `${prefixOf(atMs, tenant, runId)}${jobId}-a${attempt}.png`;

/** Concatenates pages into one object's bytes, returning where each one lies. */
export function pack(pages: string[]): { bytes: Uint8Array; ranges: { offset: number; length: number }[] } {
  const enc = new TextEncoder();
  const parts = pages.map((p) => enc.encode(p));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  const ranges: { offset: number; length: number }[] = [];
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    ranges.push({ offset: at, length: p.byteLength });
    at += p.byteLength;
  }
  return { bytes, ranges };
}

/** What a reader needs of a stored page. */
export type StoredPage = Pick<R2ObjectBody, "body" | "text">;

/** A page of no bytes (a 204, an empty 200) as read back. */
const emptyPage = (): StoredPage => ({
  body: new ReadableStream({ start: (c) => c.close() }),
  text: () => Promise.resolve(""),
});

/**
 * A job's page: its range of a pack, or the whole object for a body stored alone; null when the
 * object is gone. An empty page keeps its zero-length range in the pack, and is answered without a
 * read: R2 refuses a range of length 0 as not satisfiable.
 */
export async function readBody(
  bucket: R2Bucket,
  job: { body_key: string; body_offset: number | null; body_length: number | null },
): Promise<StoredPage | null> {
  if (job.body_offset === null || job.body_length === null) return bucket.get(job.body_key);
  if (job.body_length === 0) return emptyPage();
  return bucket.get(job.body_key, { range: { offset: job.body_offset, length: job.body_length } });
}

/** "2026-11-28T13" */
export const hourOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);

export const bodiesExpired = (completedMs: number | null, nowMs: number) =>
  completedMs !== null && nowMs - completedMs >= LIMITS.bodyRetentionMs;

/** The last hour prefix whose bodies are all past retention at `nowMs` (it ended more than 48 h ago). */
export const lastExpiredHour = (nowMs: number) => hourOf(nowMs - LIMITS.bodyRetentionMs - 3600_000);

/**
 * Deletes bodies and screenshots whose hour prefix ended more than 48 h ago, oldest hour first, one
 * list and one delete per 1,000 objects, while `budget` lasts. Returns how many it deleted and
 * whether it got through every expired hour. Nothing records progress: deleted objects are simply
 * not listed again, so the next invocation continues with what is left.
 */
export async function sweepBodies(
  bucket: R2Bucket,
  nowMs: number,
  budget: Budget,
): Promise<{ deleted: number; complete: boolean }> {
  const cutoff = lastExpiredHour(nowMs);
  let deleted = 0;
  let cursor: string | undefined;
  do {
    // Each listing is worth its cost only with budget left for deleting what it finds.
    if (!budget.take(2)) return { deleted, complete: false };
    const page = await bucket.list({ prefix: "bodies/", delimiter: "/", cursor });
    for (const prefix of page.delimitedPrefixes) {
      // Hour prefixes list in time order: the first one still kept ends the expired ones.
      if (prefix.slice("bodies/".length, -1) > cutoff) return { deleted, complete: true };
      const hour = await deletePrefix(bucket, prefix, budget);
      deleted += hour.deleted;
      if (!hour.complete) return { deleted, complete: false };
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { deleted, complete: true };
}

/**
 * Deletes every object under `prefix`, one list and one delete per 1,000 objects, while `budget`
 * lasts with `keep` operations left over for the caller.
 */
export async function deletePrefix(bucket: R2Bucket, prefix: string, budget: Budget, keep = 0) {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    if (!budget.take(keep + 1)) return { deleted, complete: false };
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    if (page.objects.length) {
      budget.take(keep);
      await bucket.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return { deleted, complete: true };
}
