import { buildApp } from "./app";
import { now } from "./clock";
import { consumeDeadLetters, consumeJobs } from "./queue/consumer";
import type { QueueMessage } from "./queue/messages";
import { sweep } from "./storage/retention";

export { RunCoordinator } from "./do/run-coordinator";
export { IdempotencyStore } from "./do/idempotency";

const app = buildApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue.endsWith("-dlq")) return consumeDeadLetters(batch, env);
    return consumeJobs(batch, env);
  },
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweep(env, now()).then((r) => console.log("retention sweep", JSON.stringify(r))));
  },
} satisfies ExportedHandler<Env, QueueMessage>;
