/** At most this many jobs in one job.completed delivery. */
export const MAX_JOBS_PER_DELIVERY = 100;

export interface JobBatch {
  jobs_ms: number;
  seq_from: number;
  seq_to: number;
  count: number;
}

/**
 * Coalesces finished jobs (in completion order) into job.completed deliveries: one per recorded
 * batch (the jobs that share a completion instant), split into runs of at most `max` jobs, each
 * named by its instant and the first and last seq. Every job is in exactly one.
 */
export function coalesceJobs(ended: { seq: number; completed_ms: number }[], max = MAX_JOBS_PER_DELIVERY): JobBatch[] {
  const out: JobBatch[] = [];
  for (const j of ended) {
    const last = out.at(-1);
    if (last && last.jobs_ms === j.completed_ms && last.count < max) {
      last.seq_to = j.seq;
      last.count++;
    } else {
      out.push({ jobs_ms: j.completed_ms, seq_from: j.seq, seq_to: j.seq, count: 1 });
    }
  }
  return out;
}
