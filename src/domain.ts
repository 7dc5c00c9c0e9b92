/**
 * The vocabulary every layer shares: job and run statuses with their guards, what a job needs to
 * run (JobSpec, JobMessage), and what one attempt at it produced (Outcome), with the constructors
 * that build outcomes so no caller spells out a row of nulls.
 */
import type { ExtractFields, ResultFormat } from "./extract";
import type { Action } from "./schemas";
import type { Device, RequestCookie, ResourceType, WaitUntil } from "./request-options";

export const JOB_STATUSES = ["pending", "in_progress", "completed", "failed", "timeout"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL = ["completed", "failed", "timeout"] as const;
export type TerminalStatus = (typeof TERMINAL)[number];

export const RUN_STATUSES = ["in_progress", "completed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const isTerminal = (s: string): s is TerminalStatus => (TERMINAL as readonly string[]).includes(s);
export const isJobStatus = (s: string): s is JobStatus => (JOB_STATUSES as readonly string[]).includes(s);
export const isRunStatus = (s: string): s is RunStatus => (RUN_STATUSES as readonly string[]).includes(s);

/**
 * What a job needs beyond url/custom_id/browser; stored as JSON with the request and the job. The
 * result options are optional because requests stored before they existed lack them: read them
 * through resultOptions().
 */
export interface JobSpec {
  screenshot: boolean;
  full_page: boolean;
  actions: Action[];
  timeout: number;
  formats?: ResultFormat[];
  only_main_content?: boolean;
  extract?: ExtractFields;
  /** Request options: kept only when given, so a spec without them is as it was before they existed. */
  headers?: Record<string, string>;
  cookies?: RequestCookie[];
  user_agent?: string;
  device?: Device;
  wait_until?: WaitUntil;
  block_resources?: ResourceType[];
}

/** A spec's result options with their defaults filled in. */
export const resultOptions = (spec: JobSpec) => ({
  formats: spec.formats ?? (["html"] as ResultFormat[]),
  only_main_content: spec.only_main_content ?? false,
  extract: spec.extract && Object.keys(spec.extract).length > 0 ? spec.extract : undefined,
});

/** A spec's browser options with their defaults filled in. */
export const browserOptions = (spec: JobSpec) => ({
  device: spec.device ?? ("desktop" as Device),
  wait_until: spec.wait_until ?? ("load" as WaitUntil),
  block_resources: spec.block_resources ?? ([] as ResourceType[]),
});

/**
 * A job handed to the workers. Carries everything a consumer needs, so running it reads nothing.
 * `attempt` is 1-based and authoritative: a consumer that defers the job re-sends it unchanged, a
 * transient failure re-sends it with attempt + 1, so the queue's own delivery count (which also
 * counts deferrals) never spends an attempt. `released_ms` is when the run's object released it:
 * the job's clock starts there.
 */
export interface JobMessage {
  kind: "job";
  job_id: string;
  run_id: string;
  tenant: string;
  url: string;
  browser: boolean;
  spec: JobSpec;
  attempt: number;
  released_ms: number;
}

/** A job's terminal result as a consumer reports it to the run's object. */
export interface Outcome {
  job_id: string;
  status: TerminalStatus;
  status_code: number | null;
  final_url: string | null;
  blocked_reason: string | null;
  error: string | null;
  attempts: number;
  /** From release until the job's attempt started (its queue wait and its wait for a slot in its batch). */
  queue_wait_ms: number | null;
  /**
   * From release until a consumer took the job's batch; not stored, only for pacing: the run's window
   * counts a job as held by a worker from then to its record (absent from outcomes of older workers).
   */
  batch_wait_ms?: number | null;
  fetch_ms: number | null;
  render_ms: number | null;
  body_key: string | null;
  body_offset: number | null;
  body_length: number | null;
  screenshot_key: string | null;
  /** The screenshot's size in bytes (usage); absent from outcomes recorded before it existed. */
  screenshot_bytes?: number | null;
  result_meta: string | null;
  /** The job's Markdown, made when its request asked for it: a range of the same pack, after every page of it. */
  markdown_offset: number | null;
  markdown_length: number | null;
}

/**
 * A target host answered a job 429 or 503 with Retry-After: the host is left alone by all of the
 * tenant's runs for that long. `again`: the job itself goes back to its run's object (pending, the
 * attempt spent) to run once the host may be asked again; otherwise it also has a final outcome.
 */
export interface HostBackoff {
  job_id: string;
  attempt: number;
  retry_after_ms: number;
  again: boolean;
}

const noResult = {
  status_code: null,
  final_url: null,
  blocked_reason: null,
  queue_wait_ms: null,
  fetch_ms: null,
  render_ms: null,
  body_key: null,
  body_offset: null,
  body_length: null,
  screenshot_key: null,
  result_meta: null,
  markdown_offset: null,
  markdown_length: null,
} as const;

/** A job that ended without any page: a worker failure, a lease that ran out, a message never built. */
export const pagelessOutcome = (job_id: string, status: TerminalStatus, attempts: number, error: string): Outcome => ({
  job_id,
  status,
  error,
  attempts,
  ...noResult,
});

/** What one attempt at a page produced, with where its body and screenshot were stored. */
export function pageOutcome(
  job_id: string,
  attempts: number,
  r: {
    status: TerminalStatus;
    status_code: number | null;
    final_url: string | null;
    blocked_reason: string | null;
    error: string | null;
    fetch_ms: number | null;
    render_ms: number | null;
  },
  extra: {
    queue_wait_ms: number | null;
    batch_wait_ms?: number | null;
    screenshot_key: string | null;
    screenshot_bytes?: number | null;
    result_meta: string | null;
  },
): Outcome {
  return {
    job_id,
    attempts,
    status: r.status,
    status_code: r.status_code,
    final_url: r.final_url,
    blocked_reason: r.blocked_reason,
    error: r.error,
    fetch_ms: r.fetch_ms,
    render_ms: r.render_ms,
    queue_wait_ms: extra.queue_wait_ms,
    batch_wait_ms: extra.batch_wait_ms ?? null,
    screenshot_key: extra.screenshot_key,
    screenshot_bytes: extra.screenshot_bytes ?? null,
    result_meta: extra.result_meta,
    body_key: null,
    body_offset: null,
    body_length: null,
    markdown_offset: null,
    markdown_length: null,
  };
}
