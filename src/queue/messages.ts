import type { JobSpec } from "../schemas";

/** A job to run. Carries everything the consumer needs, so running it reads nothing from D1 but the claim. */
export interface JobMessage {
  kind: "job";
  job_id: string;
  run_id: string;
  tenant: string;
  url: string;
  browser: boolean;
  spec: JobSpec;
}

/** Fan-out of a large run: enqueue the next page of its pending jobs, then the next dispatch. */
export interface DispatchMessage {
  kind: "dispatch";
  run_id: string;
  tenant: string;
  created_at: string;
  after_job_id: string;
}

export type QueueMessage = JobMessage | DispatchMessage;
