import { runObject } from "../do/objects";
import type { JobMessage } from "../domain";
import { chunkBySize, jsonBytes, MAX_MESSAGE_BODY_BYTES, PLATFORM } from "../sizes";

export interface Sized<T> {
  body: T;
  /** UTF-8 bytes of the JSON body. */
  bytes: number;
}

/** A job message to send, optionally after a delay (a backoff). */
export interface Outgoing {
  body: JobMessage;
  delaySeconds?: number;
}

export type BuiltJob = ({ ok: true } & Sized<JobMessage>) | { ok: false; job_id: string; error: string };

/**
 * A released job's queue message, or why it cannot have one. Requests are capped when accepted, so
 * the second case means a row stored before the cap (or damaged); the job then fails with this
 * error instead of failing every send it is part of.
 */
export function buildJobMessage(fields: Omit<JobMessage, "kind" | "spec">, specJson: string): BuiltJob {
  let spec: JobMessage["spec"];
  try {
    spec = JSON.parse(specJson);
  } catch {
    return {
      ok: false,
      job_id: fields.job_id,
      error: "the job could not be queued: its stored options are not valid JSON",
    };
  }
  const body: JobMessage = { kind: "job", ...fields, spec };
  const bytes = jsonBytes(body);
  if (bytes > MAX_MESSAGE_BODY_BYTES) {
    const over = `its message is ${bytes} bytes (UTF-8), over the ${MAX_MESSAGE_BODY_BYTES}-byte limit`;
    return { ok: false, job_id: fields.job_id, error: `the job could not be queued: ${over}` };
  }
  return { ok: true, body, bytes };
}

/**
 * The sendBatch calls for messages that each fit a queue message: at most 100 messages and 256 KB
 * per call, each message counted with its envelope margin.
 */
export function sendBatches<T>(msgs: Sized<T>[]): T[][] {
  const limits = { maxBytes: PLATFORM.queueBatchBytes, maxItems: PLATFORM.queueBatchMessages };
  const batches = chunkBySize(msgs, (m) => m.bytes + PLATFORM.queueEnvelopeBytes, limits);
  return batches.map((batch) => batch.map((m) => m.body));
}

/** Sends job messages to their queues: fetch jobs and browser jobs each to their own. */
export async function sendJobs(env: Env, msgs: (JobMessage | Outgoing)[]): Promise<void> {
  const out = msgs.map((m): Sized<Outgoing> => {
    const o = "body" in m ? m : { body: m };
    return { body: o, bytes: jsonBytes(o.body) };
  });
  await Promise.all([
    send(
      env.JOBS as Queue<JobMessage>,
      out.filter((m) => !m.body.body.browser),
    ),
    send(
      env.BROWSER_JOBS as Queue<JobMessage>,
      out.filter((m) => m.body.body.browser),
    ),
  ]);
}

async function send(queue: Queue<JobMessage>, msgs: Sized<Outgoing>[]) {
  for (const batch of sendBatches(msgs)) {
    await queue.sendBatch(batch.map((m) => ({ body: m.body, contentType: "json", delaySeconds: m.delaySeconds })));
  }
}

/**
 * Sends the jobs a run's object released in place of recorded outcomes. When the queue refuses
 * them they are handed back to the object (pending again, unspent) so its window refills them at
 * once; should that fail too, their leases bring them back. The outcomes stay counted either way.
 */
export async function sendReleased(env: Env, runId: string, release: JobMessage[]): Promise<void> {
  if (release.length === 0) return;
  try {
    await sendJobs(env, release);
  } catch (e) {
    console.error(`sending ${release.length} released jobs of run ${runId} failed; handing them back`, e);
    await runObject(env, runId)
      .unrelease({ job_ids: release.map((j) => j.job_id) })
      .catch((err: unknown) => console.error("handing released jobs back failed; their leases cover them", err));
  }
}
