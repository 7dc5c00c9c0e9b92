import { buildApp } from "./app";
import { now } from "./clock";
import { count, instrument } from "./metrics";
import { consumeDeadLetters, consumeJobs } from "./queue/consumer";
import type { QueueMessage } from "./queue/messages";
import { sweep } from "./storage/retention";

export { RunCoordinator } from "./do/run-coordinator";
export { IdempotencyStore } from "./do/idempotency";

const app = buildApp();

export default {
  fetch(request, env, ctx) {
    count("worker_invocations");
    return app.fetch(request, instrument(env), ctx);
  },
  async queue(batch, env) {
    count("worker_invocations");
    if (batch.queue.endsWith("-dlq")) return consumeDeadLetters(batch, instrument(env));
    return consumeJobs(batch, instrument(env));
  },
  async scheduled(_controller, env, ctx) {
    // Every minute: log only the invocations that found something to do.
    const report = sweep(instrument(env), now()).then((r) => {
      const found = r.bodies_deleted + r.runs_deleted + r.jobs_deleted + r.overdue_runs_expired;
      if (found > 0 || !r.complete) console.log("retention sweep", JSON.stringify(r));
    });
    ctx.waitUntil(report);
  },
} satisfies ExportedHandler<Env, QueueMessage>;
