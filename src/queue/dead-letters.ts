import { pagelessOutcome } from "../domain";
import { runObject } from "../do/objects";
import { sendReleased } from "./dispatch";
import { parseQueueMessage } from "./messages";
import { pushTo } from "./pool";

const WORKER_FAILURE = "worker failure: the job kept failing inside the worker and outlived its retries";

/**
 * The dead-letter consumer: a message that outlived its retries ends its job as failed ("worker
 * failure") through the same record path, so a late success racing it is still counted once. Each
 * run's messages share one record call and one fate: a run whose object cannot be reached is
 * retried alone, and a body that is not a job is dropped alone.
 */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const byRun = new Map<string, { msg: Message<unknown>; jobId: string; attempt: number }[]>();
  for (const msg of batch.messages) {
    const parsed = parseQueueMessage(msg.body);
    if (!parsed.ok) {
      console.error(`dropping a dead letter (id ${msg.id}): ${parsed.reason}`);
      msg.ack();
      continue;
    }
    const job = parsed.message;
    pushTo(byRun, job.run_id, { msg, jobId: job.job_id, attempt: job.attempt });
  }
  await Promise.all(
    [...byRun].map(async ([runId, items]) => {
      try {
        const outcomes = items.map((i) => pagelessOutcome(i.jobId, "failed", i.attempt, WORKER_FAILURE));
        const { release } = await runObject(env, runId).record({ outcomes });
        for (const i of items) i.msg.ack();
        await sendReleased(env, runId, release);
      } catch (e) {
        console.error(`recording dead letters of run ${runId} failed; retrying them`, e);
        for (const i of items) i.msg.retry();
      }
    }),
  );
}
