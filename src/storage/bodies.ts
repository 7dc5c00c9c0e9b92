import { LIMITS } from "../config";
import { mapLimit, pushTo } from "../queue/pool";
import type { Budget } from "./budget";

/**
 * R2 key scheme, under `bodies/<UTC hour of completion>/<tenant>/<run_id>/`:
 * - `<uuid>.pack`: the HTML of one recorded batch of jobs, concatenated, then the Markdown of those
 *   that asked for it, concatenated; each job keeps its byte ranges, read back with ranged GETs. The
 *   Markdown of a pack lies together so an export reads a pack's share of it with one GET;
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

/** Where one job's kept Markdown lies. */
export interface MarkdownAt {
  body_key: string | null;
  markdown_offset: number | null;
  markdown_length: number | null;
}

/**
 * Ranges of one pack closer than this are read as one GET: reading a few other jobs' Markdown
 * costs less than another request. MAX_READ_BYTES bounds what one GET holds in memory.
 */
const MERGE_GAP_BYTES = 256 * 1024;
const MAX_READ_BYTES = 16 * 1024 * 1024;
const MARKDOWN_READS = 4;

/**
 * The kept Markdown of some jobs, in their order (null for a job without any). Ranges of the same
 * pack are merged into one GET (see MERGE_GAP_BYTES), so the GETs are about the packs the jobs
 * came from, not the jobs: a pack holds a consumer flush (up to 25 fetch or 24 browser jobs).
 */
export async function readMarkdown(bucket: R2Bucket, jobs: readonly MarkdownAt[]): Promise<(string | null)[]> {
  const out: (string | null)[] = jobs.map((j) => (j.markdown_offset !== null && j.markdown_length === 0 ? "" : null));
  const reads = markdownReads(jobs);
  const dec = new TextDecoder();
  await mapLimit(reads, MARKDOWN_READS, async (read) => {
    const obj = await bucket.get(read.key, { range: { offset: read.offset, length: read.length } });
    if (!obj) return;
    const bytes = new Uint8Array(await obj.arrayBuffer());
    for (const i of read.jobs) {
      const j = jobs[i];
      const at = j.markdown_offset! - read.offset;
      out[i] = dec.decode(bytes.subarray(at, at + j.markdown_length!));
    }
  });
  return out;
}

/** The GETs readMarkdown makes: per pack, its jobs' ranges sorted and merged across small gaps. */
export function markdownReads(
  jobs: readonly MarkdownAt[],
): { key: string; offset: number; length: number; jobs: number[] }[] {
  const byKey = new Map<string, number[]>();
  jobs.forEach((j, i) => {
    if (j.body_key === null || j.markdown_offset === null || !j.markdown_length) return;
    pushTo(byKey, j.body_key, i);
  });
  const reads: { key: string; offset: number; length: number; jobs: number[] }[] = [];
  for (const [key, idx] of byKey) {
    idx.sort((a, b) => jobs[a].markdown_offset! - jobs[b].markdown_offset!);
    let cur: (typeof reads)[number] | null = null;
    for (const i of idx) {
      const start = jobs[i].markdown_offset!;
      const end = start + jobs[i].markdown_length!;
      const curEnd = cur ? cur.offset + cur.length : 0;
      if (cur && start - curEnd <= MERGE_GAP_BYTES && Math.max(end, curEnd) - cur.offset <= MAX_READ_BYTES) {
        cur.length = Math.max(end, curEnd) - cur.offset;
        cur.jobs.push(i);
      } else {
        cur = { key, offset: start, length: end - start, jobs: [i] };
        reads.push(cur);
      }
    }
  }
  return reads;
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
