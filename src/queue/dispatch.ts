import type { JobMessage } from "../domain";

/** Queues.sendBatch takes at most 100 messages and 256 KB per call (bytes of the JSON bodies). */
const SEND_MAX_MESSAGES = 100;
const SEND_MAX_BYTES = 256 * 1024;
/** Per-message overhead counted against the batch limit besides the body (id, timestamps, delay). */
const MESSAGE_OVERHEAD_BYTES = 1_024;

const utf8 = new TextEncoder();

export interface Outgoing {
  body: JobMessage;
  delaySeconds?: number;
}

/** Splits messages into sendBatch calls that respect the count and byte limits, in order. */
export function chunkForSend<T extends { body: unknown }>(msgs: T[]): T[][] {
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = 0;
  for (const m of msgs) {
    const size = utf8.encode(JSON.stringify(m.body)).byteLength + MESSAGE_OVERHEAD_BYTES;
    if (chunk.length > 0 && (chunk.length === SEND_MAX_MESSAGES || bytes + size > SEND_MAX_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length) chunks.push(chunk);
  return chunks;
}

/** Sends job messages to their queues: fetch jobs and browser jobs each to their own. */
export async function sendJobs(env: Env, msgs: (JobMessage | Outgoing)[]): Promise<void> {
  const out = msgs.map((m): Outgoing => ("body" in m ? m : { body: m }));
  const fetchJobs = out.filter((m) => !m.body.browser);
  const browserJobs = out.filter((m) => m.body.browser);
  await Promise.all([send(env.JOBS as Queue<JobMessage>, fetchJobs), send(env.BROWSER_JOBS as Queue<JobMessage>, browserJobs)]);
}

async function send(queue: Queue<JobMessage>, msgs: Outgoing[]) {
  for (const chunk of chunkForSend(msgs)) {
    await queue.sendBatch(chunk.map((m) => ({ body: m.body, contentType: "json", delaySeconds: m.delaySeconds })));
  }
}
