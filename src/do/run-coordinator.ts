import { DurableObject } from "cloudflare:workers";
import { now } from "../clock";
import { LIMITS } from "../config";
import { requestsPage } from "../db/requests";
import { metadataExpired, type RunRow, syncRunRow } from "../db/runs";
import {
  type HostBackoff,
  type JobMessage,
  type JobStatus,
  type Outcome,
  pagelessOutcome,
  type TerminalStatus,
} from "../domain";
import { instrument } from "../metrics";
import { PLATFORM } from "../sizes";
import { buildJobMessage, sendJobs } from "../queue/dispatch";
import { bodiesExpired, readMarkdown } from "../storage/bodies";
import { type Exchange, GRANT_TTL_MS, type Grants } from "./host-gate";
import { countOn, hostLimit, hostRecord, MAX_HOST_BACKOFF_MS, type Politeness, setOn } from "./host-policy";
import { hostGate } from "./objects";
import * as store from "./job-store";
import type { ExportRow, JobRow, RunState } from "./job-store";
import { isBrowserHeavy, leaseMs, nextRate, nextServiceMs, PACING, windowFor } from "./pacing";
import { coalesceJobs } from "../webhooks/batches";
import { type DeliveryMessage, parseWebhook } from "../webhooks/messages";
import { delaySecondsUntil, nextAttemptAt } from "../webhooks/schedule";

/** Jobs copied from the pinned request list per D1 read, and pages per alarm. */
const CREATE_PAGE = 1_000;
const CREATE_PAGES_PER_ALARM = 20;
/** Expired leases handled per alarm (the rest on the next one, at once). */
const REAP_LIMIT = 1_000;
/**
 * An in-progress run's counters go to its D1 row (which serves only the list of runs; the live
 * status comes from the object) once SYNC_EVERY_OUTCOMES more jobs ended and SYNC_EVERY_MS passed,
 * or SYNC_AT_LEAST_MS after the last sync; a change of status at once. A browser run at a page a
 * second writes its row about every 100 pages, a fast fetch run every 2 s.
 */
const SYNC_EVERY_MS = 2_000;
const SYNC_EVERY_OUTCOMES = 100;
const SYNC_AT_LEAST_MS = 60_000;
/** How soon a failed D1 sync or queue send is tried again. */
export const RETRY_SOON_MS = 5_000;
/** Hosts with pending jobs offered to the HostGate per exchange; the next exchange goes on from the last. */
const HOSTS_PER_EXCHANGE = 100;
/**
 * A run that kept its slots without asking renews them this long after its last exchange (its
 * alarm comes back for it), well before the gate forgets them (GRANT_TTL_MS).
 */
export const GRANT_RENEW_MS = GRANT_TTL_MS / 2;
/** Kept slots are claimed no later than this before the gate could forget them (clocks and calls in between). */
const GRANT_MARGIN_MS = 60_000;

/** What POST /run hands to a new run's object. */
export interface StartRun extends store.NewRun {
  /** The tenant's runs in progress when this one started (its share of the tenant's window). */
  tenant_runs: number;
}

/** The run's state with its run.completed delivery (null before the run ends, or without a webhook). */
export type RunView = RunState & { delivery: Pick<store.DeliveryRow, "status" | "attempts"> | null };

/** What a delivery attempt is made of: read from the object's rows when the attempt starts. */
export interface AttemptInput {
  run: RunState;
  delivery: store.DeliveryRow;
  /** The jobs of a job.completed delivery. */
  jobs: JobRow[];
}

/** How one delivery attempt went, as the webhook consumer reports it. */
export interface AttemptResult {
  delivery_id: string;
  manual: boolean;
  status_code: number | null;
  error: string | null;
  /** The URL guard refused the receiver: no later attempt can do better. */
  permanent: boolean;
}

export interface JobQuery {
  tenant: string;
  collection_id: string;
  order: "created_at" | "completed_at";
  statuses?: JobStatus[];
  since_ms?: number;
  /** The last row of the previous page: its seq, and its completion instant in completion order. */
  after?: { seq: number; completed_ms?: number };
  limit: number;
}

/**
 * A page of a run's export: its jobs, their kept Markdown when asked for (aligned with `rows`, null
 * for a job without any or whose page expired), and (on the first page) the run's extract field names.
 */
export interface ExportPage {
  run: RunState;
  rows: ExportRow[];
  markdown: (string | null)[] | null;
  fields: string[];
  up_to: number;
  has_more: boolean;
}

/**
 * What one export page may carry across to the Worker, as the rows' text and Markdown in bytes:
 * a page holds one page's worth of memory on each side, whatever the jobs hold (a result_meta is
 * up to 64 KB, a Markdown up to megabytes). A page always carries at least one job.
 */
export const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;
/** What a row costs beyond its variable text: its numbers, ids and the JSON around them. */
const EXPORT_ROW_BYTES = 512;

const exportRowBytes = (r: ExportRow, markdown: boolean) =>
  EXPORT_ROW_BYTES +
  r.url.length +
  (r.custom_id?.length ?? 0) +
  (r.final_url?.length ?? 0) +
  (r.error?.length ?? 0) +
  (r.result_meta?.length ?? 0) +
  (markdown ? (r.markdown_length ?? 0) : 0);

/**
 * How a run's object is started from its D1 row: by POST /run, and by the cron's backstop for a run
 * whose object never started. Job ids take the run id's first 24 characters, so both agree.
 */
export const startOf = (r: RunRow, o: { browser_total: number; tenant_runs: number }): StartRun => ({
  run_id: r.id,
  tenant: r.tenant,
  collection_id: r.collection_id,
  job_prefix: r.id.slice(0, 24),
  requests_version: r.requests_version,
  total: r.total_requests,
  per_host_concurrency: r.per_host_concurrency,
  per_host_delay_ms: r.per_host_delay_ms,
  browser_total: o.browser_total,
  created_ms: Date.parse(r.created_at),
  tenant_runs: o.tenant_runs,
  webhook: r.webhook ?? null,
});

export const jobIdOf = (prefix: string, seq: number) => `${prefix}${seq.toString(16).padStart(12, "0")}`;

/** The job's position in its run, or null when the id is not one of this run's. */
export function seqOf(prefix: string, jobId: string): number | null {
  if (jobId.length !== prefix.length + 12 || !jobId.startsWith(prefix)) return null;
  const hex = jobId.slice(prefix.length);
  return /^[0-9a-f]{12}$/.test(hex) ? Number.parseInt(hex, 16) : null;
}

const TERMINAL_ORDER: TerminalStatus[] = ["completed", "failed", "timeout"];

/**
 * One per run: its job store, its counters and its pacing. The only writer of its jobs' state.
 *
 * Invariants it protects:
 * - each job ends once: an outcome is applied only to a job not yet ended (`finishJob`), and the
 *   counters move in the same synchronous transaction, so duplicate deliveries, dead letters racing
 *   late successes and re-released jobs are counted once;
 * - success + failed + timeout never exceeds total, and the run completes exactly once, when they
 *   reach it (jobs not yet created count only once created, or once cancelled);
 * - completed_at strictly increases from one recorded batch to the next, so a listing "completed
 *   strictly after T" never misses a job that ends later;
 * - nothing outside the object is called inside a transaction: released jobs are returned to the
 *   consumer (or sent by the alarm) after the commit; a release that is never sent is released
 *   again when its lease runs out, and a job out of releases ends as timeout, so once released no
 *   job outlives its last lease (a job still waiting for its host's grant holds no lease: while the
 *   tenant's HostGate cannot be reached, its run waits and asks again every RETRY_SOON_MS);
 * - webhook events are rows written in the transaction that ends their jobs or the run: at most one
 *   run.completed per run (a unique index), every finished job in exactly one job.completed (the
 *   events_ms watermark); their queue messages go out after the commit, and a delivery whose
 *   message was not sent is sent by the alarm, so a lost send delays an event but never loses it;
 * - after 90 days from completion every read answers as if the run never existed, whatever the
 *   clean-up's backlog, and the alarm deletes the object's storage;
 * - per-host politeness: a job with a host is released only on a slot the tenant's HostGate granted
 *   this run, and this run's jobs in flight to a host never outnumber its slots there; exchanges are
 *   asked for after the commit (never inside a transaction), at most once per recorded batch, start,
 *   alarm or news from the gate, and serialised, so what the gate last heard of this run's slots
 *   per host is never older than a release it granted. A job waiting for its host stays pending,
 *   so its lease (its deadline) does not run.
 * - a slot freed by an outcome stays the run's while it has pending jobs for that host, and is
 *   refilled without asking: the run exchanges only when it would change something (a want beyond
 *   its slots, a backoff to report, slots to return on a host with a delay or another run waiting,
 *   a renewal due after GRANT_RENEW_MS, news from the gate, its end). So a run of hosts it has to
 *   itself costs two gate calls (start, end), one more each time its window outgrows its slots (it
 *   then asks for a batch more than it lacks) and one per GRANT_RENEW_MS, not one per batch
 *   (test/gate-exchanges.test.ts). Never reused without asking: a slot on a host with
 *   per_host_delay_ms (its next start waits for the gate's delay), on a host the gate says another
 *   run waits for (`busy`, so that run gets its share), or before a host's `hold_off`.
 */
export class RunCoordinator extends DurableObject<Env> {
  private sql: SqlStorage;
  private syncing: Promise<void> | null = null;
  private sendingDeliveries: Promise<void> | null = null;
  private creating: Promise<void> | null = null;
  /** After a failed D1 sync, the next is not tried before this (so an outage is not hammered). */
  private syncRetryAt = 0;
  /** Exchanges with the HostGate, one at a time (see the politeness invariant). */
  private gating: Promise<unknown> = Promise.resolve();
  /** Host backoffs recorded and not yet told to the gate (kept until an exchange succeeds). */
  private backoffs = new Map<string, number>();
  /**
   * The gate's count of this run's slots per host after the last exchange (only hosts with one);
   * null when unknown (no exchange yet in this instance, a failed one, or news from the gate).
   */
  private slots: Map<string, number> | null = null;
  /** When (Date.now()) the last exchange was answered: the gate keeps its grants GRANT_TTL_MS from then. */
  private exchangedAt = 0;
  /** Hosts the gate's last answer said another run of the tenant waits for. */
  private busy = new Set<string>();
  /** Hosts where no job may start before an instant (now()'s), from the gate's answers. */
  private holdOff = new Map<string, number>();
  /** Counts the gate's news: an answer to an exchange that overlapped news is not taken as current. */
  private news = 0;
  /** When a host the run waits for may be asked again (the gate's next_at). */
  private hostWakeAt: number | null = null;
  /** Where the next exchange's list of pending hosts starts (they are offered in turns). */
  private hostCursor = "";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
    store.upgrade(this.sql);
  }

  /**
   * From the tenant's HostGate: another run started waiting for a host this run holds slots on, or
   * a host's backoff moved. The run asks the gate at once, reporting only its jobs in flight, so
   * slots it kept unused go back now rather than at its next record (which a batch of hanging pages
   * can hold off for minutes), and it learns which hosts it may no longer reuse without asking.
   */
  async hostNews(): Promise<void> {
    this.slots = null;
    this.news++;
    await this.send(await this.refill());
  }

  /** Idempotent: a second call for the same run only makes sure the run is moving. */
  async start(r: StartRun): Promise<void> {
    if (!store.readRun(this.sql)) {
      store.migrate(this.sql);
      // POST /run (or the backstop) wrote the D1 row with this very state, so no sync (and no alarm
      // for one) is due until something changes: an alarm is a billed request like a record().
      store.insertRun(this.sql, r, r.tenant_runs, Date.now());
    }
    await this.createPages(1);
    await this.send(await this.refill());
    await this.sendDeliveries();
    await this.armAlarm();
  }

  /** The run's state, or null when it does not exist for this tenant (or its retention ended). */
  async snapshot(tenant: string): Promise<RunView | null> {
    const s = this.visible(tenant);
    return s && this.view(s);
  }

  /**
   * Records outcomes of this run and returns the jobs now released in their place, for the caller
   * to send once this returns (no outbound call happens inside the commit). `backoffs`: jobs whose
   * host answered 429/503 with Retry-After; those marked `again` go back to pending (attempt spent)
   * and every such host is slowed for the tenant through the gate, in this call's one exchange.
   */
  async record(input: {
    outcomes: Outcome[];
    backoffs?: HostBackoff[];
  }): Promise<{ release: JobMessage[]; ended: boolean }> {
    // Deleted by retention (or never started): nothing to count, and nothing of it is worth running.
    if (!store.readRun(this.sql)) return { release: [], ended: true };
    this.ctx.storage.transactionSync(() => {
      const s = this.run()!;
      const ts = Math.max(now(), s.last_ts + 1);
      const counts = { success: 0, failed: 0, timeout: 0 };
      const used = { fetch_jobs: 0, browser_jobs: 0, browser_ms: 0, bytes_stored: 0 };
      let ended = 0;
      const held: number[] = [];
      for (const o of input.outcomes) {
        const seq = seqOf(s.job_prefix, o.job_id);
        const job = seq === null ? null : store.finishJob(this.sql, seq, o, ts);
        if (!job) continue;
        counts[counterOf(o.status)]++;
        ended++;
        if (o.fetch_ms !== null && job.held_ms !== null) held.push(job.held_ms);
        // Usage counts the outcome that ended the job, once, like the counters: a duplicate's
        // page time and bytes are not the tenant's to pay for.
        if (job.browser) {
          used.browser_jobs++;
          used.browser_ms += (o.fetch_ms ?? 0) + (o.render_ms ?? 0);
        } else used.fetch_jobs++;
        used.bytes_stored += (o.body_length ?? 0) + (o.screenshot_bytes ?? 0);
      }
      if (ended > 0) {
        store.addCounts(this.sql, counts, ts);
        store.addUsage(this.sql, used);
        store.completeIfDone(this.sql, ts);
        this.sample(this.run()!, ended, held);
      }
      this.noteBackoffs(s, input.backoffs ?? []);
      this.announce();
    });
    // Sent before the refill arms the alarm, which would otherwise see them unsent and come back in
    // RETRY_SOON_MS (an alarm and a D1 sync per batch of a run with job.completed webhooks); again
    // after it, for any the refill itself announced.
    await this.sendDeliveries();
    const release = await this.refill();
    await this.sendDeliveries();
    await this.syncD1();
    // `ended` tells the consumer the run's unfinished jobs no longer count (cancelled or done), so
    // copies of them still in the queue are dropped instead of fetched.
    return { release, ended: this.run()!.status !== "in_progress" };
  }

  /** Cancels the run: unfinished jobs end as failed ("cancelled"); the counters still add up. */
  async cancel(tenant: string): Promise<RunView | null> {
    const s = this.visible(tenant);
    if (!s) return null;
    if (s.status === "in_progress") {
      this.ctx.storage.transactionSync(() => {
        const ts = Math.max(now(), s.last_ts + 1);
        const ended = store.endUnfinished(this.sql, "failed", "cancelled", ts);
        // Jobs not created yet are counted now; they are created already failed.
        store.addCounts(this.sql, { success: 0, failed: ended + (s.total - s.created_jobs), timeout: 0 }, ts);
        store.setRunStatus(this.sql, "cancelled", ts);
        this.announce();
      });
      // Its slots on the tenant's hosts go back now, not when the gate would expire them.
      await this.refill();
    }
    await this.sendDeliveries();
    await this.syncD1(true);
    return this.view(this.run()!);
  }

  /** One page of the run's jobs, or null when the run does not exist for this tenant and collection. */
  async listJobs(q: JobQuery): Promise<{ run: RunView; rows: JobRow[]; has_more: boolean } | null> {
    const run = this.visible(q.tenant);
    if (!run || run.collection_id !== q.collection_id) return null;
    const want = q.limit + 1;
    const rows =
      q.order === "created_at"
        ? store.pageBySeq(this.sql, { afterSeq: q.after?.seq ?? -1, limit: want, statuses: q.statuses })
        : this.byCompletion(q, want);
    const has_more = rows.length > q.limit;
    // The run as GET run shows it (the event stream's run events are that summary).
    return { run: this.view(run), rows: has_more ? rows.slice(0, q.limit) : rows, has_more };
  }

  async getJob(q: {
    tenant: string;
    collection_id: string;
    job_id: string;
  }): Promise<{ run: RunState; row: JobRow; spec: string } | null> {
    const run = this.visible(q.tenant);
    if (!run || run.collection_id !== q.collection_id) return null;
    const seq = seqOf(run.job_prefix, q.job_id);
    const row = seq === null ? null : store.jobBySeq(this.sql, seq);
    return row ? { run, row, spec: store.specBySeq(this.sql, seq!)! } : null;
  }

  /**
   * One page of an export: finished jobs (or those of `statuses`) in submission order among the
   * first `upTo` jobs, at most `limit` and EXPORT_PAGE_BYTES, with their kept Markdown when
   * `markdown` (read here, so the R2 GETs of a page are this call's subrequests, not the export
   * response's), and the run's extract field names. `upTo` is the number of jobs created when the
   * export began, so every page's jobs are covered by the first page's field names.
   */
  async exportPage(q: {
    tenant: string;
    collection_id: string;
    statuses: JobStatus[];
    after_seq: number;
    up_to: number | null;
    limit: number;
    markdown: boolean;
  }): Promise<ExportPage | null> {
    const run = this.visible(q.tenant);
    if (!run || run.collection_id !== q.collection_id) return null;
    const upTo = q.up_to ?? run.created_jobs;
    const range = { afterSeq: q.after_seq, beforeSeq: upTo, limit: q.limit + 1, statuses: q.statuses };
    const listed = store.pageBySeq(this.sql, range, true);
    const rows: ExportRow[] = [];
    let bytes = 0;
    for (const r of listed.slice(0, q.limit)) {
      bytes += exportRowBytes(r, q.markdown);
      if (rows.length > 0 && bytes > EXPORT_PAGE_BYTES) break;
      rows.push(r);
    }
    const t = now();
    const markdown = q.markdown
      ? await readMarkdown(
          this.env.BODIES,
          rows.map((r) => (bodiesExpired(r.completed_ms, t) ? { ...r, markdown_offset: null } : r)),
        )
      : null;
    return {
      run,
      rows,
      markdown,
      fields: q.up_to === null ? store.extractFieldNames(this.sql) : [],
      up_to: upTo,
      has_more: listed.length > rows.length,
    };
  }

  /**
   * The one alarm: continues paged creation, releases jobs whose lease ran out (or ends them),
   * refills the window, syncs the D1 row, and deletes everything when retention ends. Idempotent:
   * each step reads the state it acts on.
   */
  async alarm(): Promise<void> {
    const s = this.run();
    if (!s) return;
    if (this.retentionOver(s)) {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      return;
    }
    if (s.created_jobs < s.total) await this.createPages(CREATE_PAGES_PER_ALARM);
    const again = this.ctx.storage.transactionSync(() => {
      const out = this.reapLeases();
      this.announce();
      return out;
    });
    await this.send([...again, ...(await this.refill())]);
    await this.sendDeliveries();
    await this.syncD1(true);
    await this.armAlarm();
  }

  /** For the cron backstop: a run whose D1 row stopped moving. Starts it if its object never did. */
  async resume(r: StartRun): Promise<void> {
    if (!store.readRun(this.sql)) await this.start(r);
    // The row is written even when nothing changed, so its synced_at says this object is alive and
    // the backstop moves on to the next quiet run.
    this.sql.exec("UPDATE run SET d1_dirty = 1 WHERE id = 1");
    await this.syncD1(true);
    await this.armAlarm();
  }

  /**
   * Jobs released to a consumer whose send of them failed: pending again, their attempt not spent,
   * so the window refills them at once instead of after their lease.
   */
  async unrelease(input: { job_ids: string[] }): Promise<void> {
    const s = this.run();
    if (s?.status !== "in_progress") return;
    const seqs = input.job_ids.map((id) => seqOf(s.job_prefix, id)).filter((q): q is number => q !== null);
    this.ctx.storage.transactionSync(() => store.unrelease(this.sql, seqs));
    await this.ctx.storage.setAlarm(Date.now() + RETRY_SOON_MS);
  }

  /** One page of the run's delivery log, or null when the run does not exist for this tenant and collection. */
  async listDeliveries(q: {
    tenant: string;
    collection_id: string;
    after_seq: number;
    limit: number;
  }): Promise<{ rows: store.DeliveryRow[]; has_more: boolean } | null> {
    const run = this.visible(q.tenant);
    if (!run || run.collection_id !== q.collection_id) return null;
    const rows = store.deliveriesPage(this.sql, q.after_seq, q.limit + 1);
    const has_more = rows.length > q.limit;
    return { rows: has_more ? rows.slice(0, q.limit) : rows, has_more };
  }

  /**
   * Queues one attempt of a delivery now, beside its schedule, with the same webhook-id. Null when
   * the run or the delivery does not exist for this tenant and collection.
   */
  async redeliver(q: {
    tenant: string;
    collection_id: string;
    delivery_id: string;
  }): Promise<store.DeliveryRow | null> {
    const run = this.visible(q.tenant);
    if (!run || run.collection_id !== q.collection_id) return null;
    const d = store.deliveryById(this.sql, q.delivery_id);
    if (!d) return null;
    const body: DeliveryMessage = { kind: "webhook", run_id: run.run_id, delivery_id: d.id, manual: true };
    await this.env.WEBHOOKS.send(body, { contentType: "json" });
    return d;
  }

  /** What the webhook consumer needs for an attempt, or null when there is nothing to attempt. */
  async beginAttempt(q: { delivery_id: string; manual: boolean }): Promise<AttemptInput | null> {
    const s = this.run();
    if (!s || this.retentionOver(s)) return null;
    const d = store.deliveryById(this.sql, q.delivery_id);
    // A scheduled message of a delivery already settled (delivered by a redelivery, failed) is spent.
    if (!d || (!q.manual && d.status !== "pending")) return null;
    return { run: s, delivery: d, jobs: d.event === "job.completed" ? store.jobsOfDelivery(this.sql, d) : [] };
  }

  /**
   * Records an attempt and says when the delivery's own schedule wants the next one (null: none,
   * it was delivered or failed, or this was a redelivery, which leaves the schedule as it was).
   */
  async finishAttempt(r: AttemptResult): Promise<{ retry_in_s: number } | null> {
    if (!this.run()) return null;
    return this.ctx.storage.transactionSync(() => {
      const d = store.deliveryById(this.sql, r.delivery_id);
      if (!d) return null;
      const t = now();
      const ok = r.error === null && r.status_code !== null && r.status_code >= 200 && r.status_code < 300;
      let status = d.status;
      let next = d.next_attempt_ms;
      if (ok) {
        status = "delivered";
        next = null;
      } else if (!r.manual && d.status === "pending") {
        next = r.permanent ? null : nextAttemptAt(d.first_attempt_ms ?? t, t, d.attempts + 1, Math.random());
        status = next === null ? "failed" : "pending";
      }
      store.recordAttempt(this.sql, d.id, {
        at: t,
        status_code: r.status_code,
        error: r.error,
        status,
        next_attempt_ms: next,
      });
      return !r.manual && status === "pending" && next !== null ? { retry_in_s: delaySecondsUntil(next, t) } : null;
    });
  }

  /** A delivery whose queue message outlived its retries (the dead-letter queue's consumer). */
  async deliveryDeadLettered(q: { delivery_id: string }): Promise<void> {
    if (!this.run()) return;
    store.failDelivery(this.sql, q.delivery_id, "the delivery's queue message outlived its retries");
  }

  /** Retention, or the deletion of a collection: forget everything. */
  async destroy(): Promise<void> {
    const s = this.run();
    if (s) {
      // Also after a cancel whose own hand-back may have failed (ending is idempotent at the gate).
      // Best effort: should the gate be unreachable, it expires the run's slots itself. After any
      // exchange still in flight, which would otherwise land after the end and take slots again.
      await this.gating;
      await hostGate(this.env, s.tenant)
        .end({ run_id: s.run_id, politeness: politenessOf(s) })
        .catch((e: unknown) => console.error("returning a deleted run's host slots failed", e));
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  /**
   * The deletion of the run's collection: cancelled if still in progress, its D1 row written one
   * last time (with the usage of its last jobs), then everything forgotten. False, with nothing
   * deleted, while that write fails: the usage it carries would be lost with the object.
   */
  async purge(): Promise<boolean> {
    const s = this.run();
    if (s?.status === "in_progress") await this.cancel(s.tenant);
    else await this.syncD1(true);
    if (this.run()?.d1_dirty) return false;
    await this.destroy();
    return true;
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────

  private run(): RunState | null {
    return store.readRun(this.sql);
  }

  private view(s: RunState): RunView {
    const d = s.webhook === null ? null : store.runCompletedDelivery(this.sql);
    return { ...s, delivery: d && { status: d.status, attempts: d.attempts } };
  }

  /**
   * Writes the webhook events of what the current transaction ended: job.completed deliveries for
   * jobs finished since the watermark (one per recorded batch, ≤ 100 jobs each), and the one
   * run.completed once the run has ended. Inside the transaction that ended them.
   */
  private announce() {
    const s = this.run()!;
    const hook = parseWebhook(s.webhook);
    if (!hook) return;
    const t = now();
    if (hook.events.includes("job.completed")) {
      const ended = store.endedSince(this.sql, s.events_ms);
      if (ended.length > 0) {
        const batches = coalesceJobs(ended).map((b) => ({
          ...b,
          id: crypto.randomUUID(),
          url: hook.url,
          created_ms: t,
        }));
        store.insertJobDeliveries(this.sql, batches);
        store.setEventsMs(this.sql, ended.at(-1)!.completed_ms);
      }
    }
    if (s.status !== "in_progress" && hook.events.includes("run.completed")) {
      store.insertRunCompleted(this.sql, crypto.randomUUID(), hook.url, s.completed_ms ?? t);
    }
  }

  /**
   * Sends the queue messages of deliveries not sent yet, then marks them sent. One loop at a time,
   * and it runs until none is left, so concurrent callers never send a delivery twice; a failed
   * send leaves them to the alarm.
   */
  private sendDeliveries(): Promise<void> {
    if (!this.sendingDeliveries && store.hasUnqueued(this.sql)) {
      // Cleared in a callback, which runs after the assignment whatever the loop does.
      this.sendingDeliveries = this.sendUnqueued().finally(() => {
        this.sendingDeliveries = null;
      });
    }
    return this.sendingDeliveries ?? Promise.resolve();
  }

  private async sendUnqueued() {
    try {
      for (;;) {
        const ids = store.unqueuedDeliveries(this.sql, PLATFORM.queueBatchMessages);
        if (ids.length === 0) return;
        const runId = this.run()!.run_id;
        await this.env.WEBHOOKS.sendBatch(
          ids.map((delivery_id) => ({
            body: { kind: "webhook", run_id: runId, delivery_id, manual: false } satisfies DeliveryMessage,
            contentType: "json" as const,
          })),
        );
        store.markQueued(this.sql, ids);
      }
    } catch (e) {
      console.error("sending webhook deliveries failed; the alarm sends them", e);
      await this.armAlarm();
    }
  }

  private retentionOver(s: RunState): boolean {
    return metadataExpired(s.completed_ms, now());
  }

  private visible(tenant: string): RunState | null {
    const s = this.run();
    return s && s.tenant === tenant && !this.retentionOver(s) ? s : null;
  }

  private byCompletion(q: JobQuery, want: number): JobRow[] {
    const statuses = (q.statuses?.length ? q.statuses : TERMINAL_ORDER).filter((st): st is TerminalStatus =>
      (TERMINAL_ORDER as string[]).includes(st),
    );
    // "Strictly after `since`" is the same range as "after the last job completed at `since`".
    let after = q.after?.completed_ms !== undefined ? { completed_ms: q.after.completed_ms, seq: q.after.seq } : null;
    if (q.since_ms !== undefined && (!after || after.completed_ms < q.since_ms)) {
      after = { completed_ms: q.since_ms, seq: Number.MAX_SAFE_INTEGER };
    }
    const from = after ?? { completed_ms: -1, seq: -1 };
    const merged = statuses.flatMap((st) => store.pageByCompletion(this.sql, st, from, want));
    return merged.sort((a, b) => a.completed_ms! - b.completed_ms! || a.seq - b.seq).slice(0, want);
  }

  /**
   * Copies pages of the pinned request list into job rows, one transaction per page. Concurrent
   * callers (start and the alarm) share one copy loop; a page copied twice is ignored by seq.
   */
  private createPages(maxPages: number): Promise<void> {
    this.creating ??= (async () => {
      try {
        for (let page = 0; page < maxPages; page++) {
          const s = this.run()!;
          if (s.created_jobs >= s.total) return;
          const rows = await requestsPage(
            this.env.DB,
            s.collection_id,
            s.requests_version,
            s.created_jobs,
            CREATE_PAGE,
          );
          this.ctx.storage.transactionSync(() => this.createPage(this.run()!, rows));
        }
      } finally {
        this.creating = null;
      }
    })();
    return this.creating;
  }

  private createPage(s: RunState, rows: store.RequestRow[]) {
    // Jobs of a cancelled run are created already ended, at an instant after every earlier batch,
    // so a client streaming completions (since_completed_at) sees them too.
    const ts = Math.max(now(), s.last_ts + 1);
    const cancelled = s.status === "cancelled" ? { error: "cancelled", at: ts } : null;
    store.insertJobs(this.sql, rows, cancelled);
    if (rows.length > 0) {
      store.setCreated(this.sql, rows.at(-1)!.seq + 1);
      if (cancelled) {
        store.addCounts(this.sql, { success: 0, failed: 0, timeout: 0 }, ts);
        this.announce();
      }
      return;
    }
    // The pinned list ended early: it was deleted under the run (its collection was deleted). The
    // jobs it no longer has cannot run; they end as failed so the counters still add up.
    const missing = s.total - s.created_jobs;
    if (s.status === "in_progress") store.addCounts(this.sql, { success: 0, failed: missing, timeout: 0 }, ts);
    store.setCreated(this.sql, s.total);
    store.completeIfDone(this.sql, ts);
    this.announce();
  }

  /**
   * Releases jobs up to the window, each host's only as far as the tenant's HostGate grants: reads
   * what the run holds and wants per host, asks the gate (outside any transaction), then releases
   * the granted jobs in one transaction. A run that has ended gives all its slots back instead.
   * Serialised, so the gate never hears an older count of this run's jobs after a newer one.
   */
  private refill(): Promise<JobMessage[]> {
    const next = this.gating.then(() => this.refillNow());
    this.gating = next.catch(() => undefined);
    return next;
  }

  private async refillNow(): Promise<JobMessage[]> {
    const s = this.run();
    if (!s) return [];
    const gate = hostGate(this.env, s.tenant);
    const politeness = politenessOf(s);
    if (s.status !== "in_progress") {
      if (this.slots !== null && this.slots.size === 0) return [];
      try {
        await gate.end({ run_id: s.run_id, politeness });
        this.slots = new Map();
        this.hostWakeAt = null;
      } catch (e) {
        // Tried again by the alarm soon; failing that, the gate expires slots nobody renews (GRANT_TTL_MS).
        console.error("returning an ended run's host slots failed", e);
        this.hostWakeAt = Date.now() + RETRY_SOON_MS;
        await this.armAlarm();
      }
      return [];
    }
    const browserHeavy = isBrowserHeavy(s.total, s.browser_total);
    const size = windowFor(s.rate ?? 0, s.service_ms ?? 0, s.tenant_runs, browserHeavy);
    let room = size - store.countInFlight(this.sql);
    // Jobs created before hosts were kept are released without the gate.
    const hostless = room > 0 ? store.pendingOnHost(this.sql, null, room) : 0;
    room -= hostless;
    const t = now();
    const cap = hostLimit(politeness);
    const inFlight = store.inFlightByHost(this.sql);
    const delayed = politeness.per_host_delay_ms > 0;
    const keep = this.keep(inFlight, delayed);
    // Slots kept on a host in its hold_off cannot be used before it ends: they do not take room from
    // the run's other hosts meanwhile.
    let unused = 0;
    for (const [host, n] of Object.entries(keep)) {
      if ((this.holdOff.get(host) ?? 0) <= t) unused += n - countOn(inFlight, host);
    }
    const want = room - unused > 0 ? this.wants(cap, keep, inFlight) : {};
    const news = this.news;
    let slots = this.slots;
    let granted: Grants | null = null;
    if (this.mustAsk(keep, want, delayed, t)) {
      const backoff = Object.fromEntries(this.backoffs);
      // A window that grows asks for a batch more than it needs: the slots are kept (they go back once
      // another run waits), so a window creeping up by a few jobs per record does not ask each time.
      const short = Math.max(0, room - unused);
      const ask = short > 0 ? short + (browserHeavy ? PACING.minBrowserWindow : PACING.minWindow) : 0;
      const x: Exchange = { run_id: s.run_id, politeness, held: keep, want, room: ask, backoff };
      try {
        granted = await gate.exchange(x);
        this.exchangedAt = Date.now();
        slots = new Map(Object.entries(keep).filter(([, n]) => n > 0));
        for (const [host, n] of Object.entries(granted.grants)) slots.set(host, (slots.get(host) ?? 0) + n);
        // A gate from before `busy` was answered: keep nothing beyond the jobs in flight, ask every time.
        this.busy = new Set(granted.busy ?? Object.keys(keep));
        for (const [host, until] of Object.entries(granted.hold_off ?? {})) this.holdOff.set(host, until);
        for (const [host, until] of Object.entries(backoff)) {
          if (this.backoffs.get(host) === until) this.backoffs.delete(host);
        }
        this.slots = news === this.news && granted.busy !== undefined ? slots : null;
      } catch (e) {
        // Nothing is released on this exchange; the alarm asks again soon.
        console.error("the host gate could not be reached; releasing again soon", e);
        this.slots = null;
        this.hostWakeAt = Date.now() + RETRY_SOON_MS;
        slots = null;
      }
    }
    for (const [host, until] of this.holdOff) if (until <= t) this.holdOff.delete(host);
    const msgs = this.ctx.storage.transactionSync(() => {
      const after = this.run()!;
      if (after.status !== "in_progress") return [];
      const rt = now();
      const rows = store.releasePending(this.sql, null, hostless, rt, leaseMs);
      let left = Math.max(0, room);
      for (const [host, n] of slots ?? []) {
        if ((this.holdOff.get(host) ?? 0) > rt) continue;
        const released = store.releasePending(this.sql, host, Math.min(left, n - countOn(inFlight, host)), rt, leaseMs);
        left -= released.length;
        rows.push(...released);
      }
      const out = this.messages(after, rows, rt);
      // A job whose message could not be built ended here: its job.completed is written with it.
      this.announce();
      return out;
    });
    if (slots !== null) this.hostWakeAt = this.wakeAt(granted, keep, inFlight, want, t);
    await this.armAlarm();
    return msgs;
  }

  /**
   * The slots the run keeps per host: its jobs in flight, and while the host is its alone (no delay,
   * nobody waiting, no slots unknown, and not so long since its last exchange that the gate may have
   * let them go: then another run may hold them, and claiming them back could pass the host's limit)
   * as many of its current slots as its pending jobs there can use.
   */
  private keep(inFlight: Record<string, number>, delayed: boolean): Record<string, number> {
    const out = hostRecord(Object.entries(inFlight));
    if (this.slots === null || delayed || Date.now() >= this.exchangedAt + GRANT_TTL_MS - GRANT_MARGIN_MS) return out;
    for (const [host, n] of this.slots) {
      const flying = countOn(inFlight, host);
      if (this.busy.has(host) || n <= flying) continue;
      setOn(out, host, flying + store.pendingOnHost(this.sql, host, n - flying));
    }
    return out;
  }

  /**
   * Whether this refill needs the gate: slots unknown, a backoff to report, renewal due, a want it
   * could be granted now, or slots to give back where reusing them is not the run's to decide (a
   * host with a delay or another run waiting: `keep` is then the jobs in flight alone).
   */
  private mustAsk(keep: Record<string, number>, want: Record<string, number>, delayed: boolean, t: number): boolean {
    if (this.slots === null || this.backoffs.size > 0) return true;
    if (this.slots.size > 0 && Date.now() >= this.exchangedAt + GRANT_RENEW_MS) return true;
    // A host still in its hold_off would be refused: the alarm comes back for it (wakeAt).
    if (Object.keys(want).some((h) => (this.holdOff.get(h) ?? 0) <= t)) return true;
    for (const h of new Set([...this.slots.keys(), ...Object.keys(keep)])) {
      const had = this.slots.get(h) ?? 0;
      const kept = countOn(keep, h);
      // More in flight than the gate counts (jobs released before this instance knew its slots), or
      // slots going back where the gate must hear it. Elsewhere an unused slot goes back at the next
      // exchange or the run's end: nobody waits for it (the gate would have sent news).
      if (kept > had || (kept < had && (delayed || this.busy.has(h)))) return true;
    }
    return false;
  }

  /**
   * When to come back for a host: the gate's next_at for a wanted host it held back, or the end of
   * a host's hold_off while the run has jobs for it.
   */
  private wakeAt(
    granted: Grants | null,
    keep: Record<string, number>,
    inFlight: Record<string, number>,
    want: Record<string, number>,
    t: number,
  ): number | null {
    let at = granted?.next_at ?? null;
    for (const [host, until] of this.holdOff) {
      const waiting = countOn(keep, host) > countOn(inFlight, host) || Object.hasOwn(want, host);
      if (waiting && until > t) at = Math.min(at ?? until, until);
    }
    // The gate's instants are now()'s; the alarm's are the real clock's (they differ only in tests).
    return at === null ? null : at - now() + Date.now();
  }

  /**
   * Pending jobs per host the run would have more slots for: beyond the slots it keeps there, and
   * only on hosts where it keeps fewer than the limit. Hosts are offered HOSTS_PER_EXCHANGE at a time.
   */
  private wants(cap: number, keep: Record<string, number>, inFlight: Record<string, number>): Record<string, number> {
    let hosts = store.pendingHosts(this.sql, this.hostCursor, HOSTS_PER_EXCHANGE);
    if (hosts.length < HOSTS_PER_EXCHANGE && this.hostCursor !== "") {
      const wrapped = store.pendingHosts(this.sql, "", HOSTS_PER_EXCHANGE - hosts.length);
      hosts = [...hosts, ...wrapped.filter((h) => !hosts.includes(h))];
    }
    this.hostCursor = hosts.length === HOSTS_PER_EXCHANGE ? hosts.at(-1)! : "";
    const out = hostRecord();
    for (const h of hosts) {
      const kept = countOn(keep, h);
      if (kept >= cap) continue;
      const more = store.pendingOnHost(this.sql, h, cap) - (kept - countOn(inFlight, h));
      if (more > 0) setOn(out, h, more);
    }
    return out;
  }

  /** Inside record()'s transaction: jobs sent back by their host go pending, their hosts slow down. */
  private noteBackoffs(s: RunState, backoffs: HostBackoff[]) {
    const t = now();
    for (const b of backoffs) {
      const seq = seqOf(s.job_prefix, b.job_id);
      if (seq === null) continue;
      const host = b.again ? store.returnJob(this.sql, seq, b.attempt) : store.hostOfJob(this.sql, seq);
      if (!host) continue;
      const until = t + Math.min(Math.max(0, b.retry_after_ms), MAX_HOST_BACKOFF_MS);
      this.backoffs.set(host, Math.max(this.backoffs.get(host) ?? 0, until));
    }
  }

  /** Jobs whose lease ran out go out again; those out of releases end as timeout. Inside a transaction. */
  private reapLeases(): JobMessage[] {
    const s = this.run()!;
    if (s.status !== "in_progress") return [];
    const t = now();
    const again: store.ReleaseRow[] = [];
    const ended: Outcome[] = [];
    for (const r of store.expiredLeases(this.sql, t, REAP_LIMIT)) {
      if (r.releases < PACING.maxReleases) {
        store.reRelease(this.sql, r.seq, t, t + leaseMs(r.timeout_ms));
        again.push({ ...r, attempts: r.attempts + 1 });
      } else {
        const error = `the job did not finish within its lease (${r.releases} releases)`;
        ended.push(pagelessOutcome(jobIdOf(s.job_prefix, r.seq), "timeout", r.attempts, error));
      }
    }
    this.endJobs(s, ended);
    return this.messages(s, again, t);
  }

  /**
   * The messages of released jobs. A job whose message cannot be built (stored before the request
   * size cap, or damaged) ends as failed with the reason instead of failing every send it is in.
   */
  private messages(s: RunState, rows: store.ReleaseRow[], releasedMs: number): JobMessage[] {
    const out: JobMessage[] = [];
    const unsendable: Outcome[] = [];
    for (const r of rows) {
      const job_id = jobIdOf(s.job_prefix, r.seq);
      const fields = {
        job_id,
        run_id: s.run_id,
        tenant: s.tenant,
        url: r.url,
        browser: r.browser === 1,
        attempt: r.attempts,
        released_ms: releasedMs,
      };
      const built = buildJobMessage(fields, r.spec);
      if (built.ok) {
        out.push(built.body);
      } else {
        // Never sent, so never attempted: the release is undone before the job ends.
        store.unrelease(this.sql, [r.seq]);
        unsendable.push(pagelessOutcome(job_id, "failed", r.attempts - 1, built.error));
      }
    }
    this.endJobs(this.run()!, unsendable);
    return out;
  }

  /** Ends jobs the object itself decided on, counted like any recorded outcome. Inside a transaction. */
  private endJobs(s: RunState, outcomes: Outcome[]) {
    if (outcomes.length === 0) return;
    const ts = Math.max(now(), s.last_ts + 1);
    const counts = { success: 0, failed: 0, timeout: 0 };
    for (const o of outcomes) {
      if (store.finishJob(this.sql, seqOf(s.job_prefix, o.job_id)!, o, ts)) counts[counterOf(o.status)]++;
    }
    store.addCounts(this.sql, counts, ts);
    store.completeIfDone(this.sql, ts);
  }

  /**
   * Samples for the window: throughput (outcomes since the last sample over the time since then)
   * and the jobs' time in a worker, from when a consumer took their batch to their record (`times`,
   * of the outcomes a worker made). Not the page's own fetch + render, nor the time from its start: a
   * browser batch's jobs wait for one of its few slots and are recorded together when it ends, so each
   * is held for the whole batch, and a window sized by one page's time would keep a browser run at a
   * single batch in flight.
   */
  private sample(s: RunState, ended: number, times: number[]) {
    const t = now();
    const count = s.rate_mark_count + ended;
    if (t - s.rate_mark_ms >= PACING.rateSampleMs)
      store.setRate(this.sql, nextRate(s.rate, count, t - s.rate_mark_ms), t);
    else store.addRateCount(this.sql, ended);
    if (times.length)
      store.setServiceMs(this.sql, nextServiceMs(s.service_ms, times.reduce((a, b) => a + b, 0) / times.length));
  }

  /** Sends released jobs; when the queue refuses them they go back to pending and the alarm tries again soon. */
  private async send(msgs: JobMessage[]) {
    if (msgs.length === 0) return;
    try {
      await sendJobs(this.env, msgs);
    } catch (e) {
      console.error("sending released jobs failed; the alarm releases them again", e);
      const s = this.run()!;
      this.ctx.storage.transactionSync(() =>
        store.unrelease(
          this.sql,
          msgs.map((m) => seqOf(s.job_prefix, m.job_id)!),
        ),
      );
      await this.ctx.storage.setAlarm(Date.now() + RETRY_SOON_MS);
    }
  }

  /**
   * Copies the counters (absolute values) to the D1 run row, which serves the list of runs and
   * tells this object how many runs its tenant has in progress, on the schedule of SYNC_EVERY_MS.
   * After a failure only a forced sync (the alarm, which is armed for the retry instant; a cancel;
   * the backstop) tries before RETRY_SOON_MS have passed: record() calls arriving meanwhile (a
   * completed run's late duplicates, say) would otherwise each try a database that is down.
   */
  private syncD1(force = false): Promise<void> {
    const s = this.run();
    if (!s?.d1_dirty) return Promise.resolve();
    if (!force && Date.now() < this.syncRetryAt) return this.armAlarm();
    const statusChanged = s.status !== "in_progress";
    const since = Date.now() - s.synced_ms;
    const ended = s.success + s.failed + s.timeout - s.synced_count;
    const due = since >= SYNC_AT_LEAST_MS || (since >= SYNC_EVERY_MS && ended >= SYNC_EVERY_OUTCOMES);
    if (!force && !statusChanged && !due) return this.armAlarm();
    this.syncing ??= (async () => {
      try {
        const tenantRuns = await syncRunRow(this.env.DB, s, new Date(now()).toISOString());
        const after = this.run()!;
        const same =
          after.success === s.success &&
          after.failed === s.failed &&
          after.timeout === s.timeout &&
          after.status === s.status;
        const count = s.success + s.failed + s.timeout;
        store.markSynced(this.sql, { tenantRuns, dirty: !same, at: Date.now(), count });
        this.syncRetryAt = 0;
      } catch (e) {
        console.error("run counter sync failed; retrying from the alarm", e);
        this.syncRetryAt = Date.now() + RETRY_SOON_MS;
      } finally {
        this.syncing = null;
      }
      await this.armAlarm();
    })();
    return this.syncing;
  }

  /** The next instant any of the alarm's duties is due. */
  private async armAlarm() {
    const s = this.run();
    if (!s) return;
    const t = now();
    const due: number[] = [];
    if (s.created_jobs < s.total) due.push(t);
    if (s.d1_dirty) {
      const sync = s.status === "in_progress" ? s.synced_ms + SYNC_AT_LEAST_MS : t;
      due.push(Math.max(sync, this.syncRetryAt - Date.now() + t));
    }
    if (s.status === "in_progress") {
      const lease = store.nextLease(this.sql);
      if (lease !== null) due.push(lease);
    }
    // A host to ask again, or (once the run has ended) its slots still to give back.
    if (this.hostWakeAt !== null) due.push(this.hostWakeAt - Date.now() + t);
    // Slots kept without asking are renewed before the gate forgets them, records or not.
    if (s.status === "in_progress" && this.slots !== null && this.slots.size > 0)
      due.push(this.exchangedAt + GRANT_RENEW_MS - Date.now() + t);
    if (s.completed_ms !== null) due.push(s.completed_ms + LIMITS.metadataRetentionMs);
    if (store.hasUnqueued(this.sql)) due.push(t + RETRY_SOON_MS);
    if (due.length === 0) return;
    const at = Math.max(Date.now(), Math.min(...due) - (t - Date.now()));
    const current = await this.ctx.storage.getAlarm();
    // Only ever earlier while the run goes on (a setAlarm is a billed row written, and the alarm
    // re-arms itself). Once it has ended and this instance saw its slots go back, what is due is
    // final: an alarm it armed while running (its next counter sync, its slots' renewal) would come
    // back for nothing, so it moves to what is due. (An instance that has not seen them go back
    // may not know an end() still to retry: it leaves an earlier alarm be.)
    const stale = s.status !== "in_progress" && this.slots?.size === 0 && current !== null && current < at;
    if (current === null || current > at || current < Date.now() || stale) await this.ctx.storage.setAlarm(at);
  }
}

const counterOf = (s: TerminalStatus) => (s === "completed" ? "success" : s) as "success" | "failed" | "timeout";

const politenessOf = (s: RunState): Politeness => ({
  per_host_concurrency: s.per_host_concurrency,
  per_host_delay_ms: s.per_host_delay_ms,
});
