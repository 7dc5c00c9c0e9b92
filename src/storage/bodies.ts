import { LIMITS } from "../config";

/**
 * R2 key scheme: `bodies/<UTC hour of completion>/<tenant>/<run_id>/<job_id>-a<attempt>.<ext>`.
 * The hour prefix lets the retention sweep delete whole expired hours by listing only them; the
 * attempt suffix keeps a late duplicate attempt from overwriting the body of the attempt that won.
 */
export function bodyKey(atMs: number, tenant: string, runId: string, jobId: string, attempt: number, ext: "html" | "png"): string {
  return `bodies/${hourOf(atMs)}/${tenant}/${runId}/${jobId}-a${attempt}.${ext}`;
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
