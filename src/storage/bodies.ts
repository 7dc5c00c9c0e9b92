import { LIMITS } from "../config";

/**
 * R2 key scheme, under `bodies/<UTC hour of completion>/<tenant>/<run_id>/`:
 * - `<uuid>.pack`: the HTML of one recorded batch of jobs, concatenated; each job keeps its byte
 *   range, read back with a ranged GET;
 * - `<job_id>-a<attempt>.png`: a screenshot.
 * The hour prefix lets the retention sweep delete whole expired hours by listing only them. Keys
 * are never reused, so a late duplicate attempt cannot overwrite the body of the attempt that won.
 */
const prefixOf = (atMs: number, tenant: string, runId: string) => `bodies/${hourOf(atMs)}/${tenant}/${runId}/`;
export const packKey = (atMs: number, tenant: string, runId: string) => `${prefixOf(atMs, tenant, runId)}${crypto.randomUUID()}.pack`;
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

export const bodiesExpired = (completedAt: string | null, nowMs: number) =>
  completedAt !== null && nowMs - Date.parse(completedAt) >= LIMITS.bodyRetentionMs;

/**
 * Deletes every body and screenshot whose hour prefix ended more than 48 h ago. Costs one list per
 * expired hour plus one per 1,000 objects, whatever the bucket holds in newer hours.
 */
export async function sweepBodies(bucket: R2Bucket, nowMs: number): Promise<number> {
  const cutoff = hourOf(nowMs - LIMITS.bodyRetentionMs - 3600_000);
  let deleted = 0;
  let cursor: string | undefined;
  const expiredHours: string[] = [];
  do {
    const page = await bucket.list({ prefix: "bodies/", delimiter: "/", cursor });
    for (const p of page.delimitedPrefixes) {
      const hour = p.slice("bodies/".length, -1);
      if (hour <= cutoff) expiredHours.push(p);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  for (const prefix of expiredHours) {
    let c: string | undefined;
    do {
      const page = await bucket.list({ prefix, cursor: c, limit: 1000 });
      if (page.objects.length) {
        await bucket.delete(page.objects.map((o) => o.key));
        deleted += page.objects.length;
      }
      c = page.truncated ? page.cursor : undefined;
    } while (c);
  }
  return deleted;
}
