import { now } from "../clock";
import type { HostBackoff, JobMessage, Outcome } from "../domain";
import { runObject } from "../do/objects";
import { pack, packKey } from "../storage/bodies";
import { sendReleased } from "./dispatch";
import { pushTo } from "./pool";

/**
 * Runs this isolate learned have ended (cancelled, completed, deleted): a job of one still in the
 * queue (a cancelled run's released window, a duplicate) is acked without being fetched. Bounded:
 * the oldest are forgotten, which only means a stray job is fetched and its outcome ignored.
 */
export const endedRuns = new (class extends Set<string> {
  override add(runId: string) {
    if (this.size >= 10_000) this.delete(this.values().next().value as string);
    return super.add(runId);
  }
})();

/** Flush once this much HTML waits, whatever the count. */
const FLUSH_BYTES = 8 * 1024 * 1024;

export interface FlushPolicy {
  /** Outcomes that trigger a flush. */
  size: number;
  /** The longest an outcome waits for its flush. */
  ms: number;
}

/** Fetch jobs finish in milliseconds: flush often enough that results stream. */
export const FETCH_FLUSH: FlushPolicy = { size: 25, ms: 500 };
/**
 * Browser pages take seconds: flush once per browser batch (24 jobs, the browser queue's
 * max_batch_size), so a browser job costs a 24th of a record() call; a batch longer than 30 s
 * (slow pages) still shows its finished pages every 30 s.
 */
export const BROWSER_FLUSH: FlushPolicy = { size: 24, ms: 30_000 };

interface Pending {
  job: JobMessage;
  /** Null for a job handed back to its run's object by a host backoff (it has no outcome yet). */
  outcome: Outcome | null;
  html: string | null;
  markdown: string | null;
  /** The job's host answered 429/503 with Retry-After (ms). */
  backoff_ms: number | null;
}

/**
 * Buffers outcomes and records them with one Durable Object call per run per flush. A flush
 * happens when `policy.size` outcomes or FLUSH_BYTES of HTML wait, or the oldest has waited
 * `policy.ms`, so a fast page is not held back by the slowest page of its batch while DO calls stay
 * far below one per job. The pages of a flush go to R2 as one object per run (a "pack"), each job
 * keeping its byte range. The run's object answers with the jobs it released in their place, which
 * are sent after it returned. `onRecorded` hears of every job whose outcome is now counted (by this
 * flush or an earlier one), so its messages can be acked; a flush that fails leaves them unacked.
 */
export class Recorder {
  private pending: Pending[] = [];
  private bytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private env: Env,
    private policy: FlushPolicy,
    private onRecorded: (jobId: string) => void,
  ) {}

  /** `backoffMs`: the outcome is a 429/503 with Retry-After, which slows its host for the tenant. */
  add(
    job: JobMessage,
    outcome: Outcome,
    html: string | null,
    markdown: string | null = null,
    backoffMs: number | null = null,
  ): Promise<void> {
    return this.push({ job, outcome, html, markdown, backoff_ms: backoffMs });
  }

  /**
   * Hands a job back to its run's object because its host answered 429/503 with Retry-After: the
   * object releases it again once the host may be asked (the attempt is spent), and holds back the
   * tenant's other jobs to that host meanwhile. It travels with the flush's one record() call.
   */
  handBack(job: JobMessage, backoffMs: number): Promise<void> {
    return this.push({ job, outcome: null, html: null, markdown: null, backoff_ms: backoffMs });
  }

  private push(p: Pending): Promise<void> {
    this.pending.push(p);
    this.bytes += (p.html?.length ?? 0) + (p.markdown?.length ?? 0);
    if (this.pending.length >= this.policy.size || this.bytes >= FLUSH_BYTES) return this.flush();
    this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.policy.ms);
    return Promise.resolve();
  }

  /** Serialised, so flushes never overlap; an error surfaces to the caller. */
  flush(): Promise<void> {
    const next = this.chain.then(() => this.flushNow());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async flushNow() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = this.pending;
    this.pending = [];
    this.bytes = 0;
    const byRun = new Map<string, Pending[]>();
    for (const p of pending) pushTo(byRun, p.job.run_id, p);
    const results = await Promise.allSettled([...byRun].map(([runId, items]) => this.recordRun(runId, items)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  private async recordRun(runId: string, items: Pending[]) {
    await this.storePages(runId, items);
    const outcomes = items.flatMap((p) => (p.outcome ? [p.outcome] : []));
    const backoffs = items.flatMap((p): HostBackoff[] =>
      p.backoff_ms === null
        ? []
        : [{ job_id: p.job.job_id, attempt: p.job.attempt, retry_after_ms: p.backoff_ms, again: p.outcome === null }],
    );
    const { release, ended } = await runObject(this.env, runId).record({ outcomes, backoffs });
    for (const p of items) this.onRecorded(p.job.job_id);
    if (ended) endedRuns.add(runId);
    await sendReleased(this.env, runId, release);
  }

  /**
   * One R2 object for the pages of this run's outcomes in this flush: their HTML, then the Markdown
   * of those that have it (made from the same page, so only a job with HTML has one), each block
   * contiguous. Empty pages need no bytes.
   */
  private async storePages(runId: string, items: Pending[]) {
    const withHtml = items.filter((p) => p.html !== null && p.outcome !== null);
    if (withHtml.length === 0) return;
    const withMarkdown = withHtml.filter((p) => p.markdown !== null);
    const key = packKey(now(), withHtml[0].job.tenant, runId);
    const { bytes, ranges } = pack([...withHtml.map((p) => p.html!), ...withMarkdown.map((p) => p.markdown!)]);
    await this.env.BODIES.put(key, bytes, { httpMetadata: { contentType: "application/octet-stream" } });
    withHtml.forEach((p, i) => {
      p.outcome!.body_key = key;
      p.outcome!.body_offset = ranges[i].offset;
      p.outcome!.body_length = ranges[i].length;
    });
    withMarkdown.forEach((p, i) => {
      p.outcome!.markdown_offset = ranges[withHtml.length + i].offset;
      p.outcome!.markdown_length = ranges[withHtml.length + i].length;
    });
  }
}
