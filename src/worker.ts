import { buildApp } from "./http/app";
import { now } from "./clock";
import { count, instrument } from "./metrics";
import { consumeJobs } from "./queue/consume";
import { consumeDeadLetters } from "./queue/dead-letters";
import { sweep } from "./storage/retention";
import { consumeWebhookDeadLetters, consumeWebhooks } from "./webhooks/deliver";

export { HostGate } from "./do/host-gate";
export { IdempotencyStore } from "./do/idempotency";
export { RunCoordinator } from "./do/run-coordinator";

const app = buildApp();

/** Queue names as wrangler.toml declares them; a batch from any other queue is a deploy error. */
export const QUEUES = {
  jobs: "scrape-jobs",
  browserJobs: "scrape-browser-jobs",
  deadLetters: "scrape-jobs-dlq",
  webhooks: "scrape-webhooks",
  webhookDeadLetters: "scrape-webhooks-dlq",
} as const;

export default {
  fetch(request, env, ctx) {
    count("worker_invocations");
    return app.fetch(request, instrument(env), ctx);
  },
  async queue(batch, env) {
    count("worker_invocations");
    switch (batch.queue) {
      case QUEUES.jobs:
        return consumeJobs(batch, instrument(env), false);
      case QUEUES.browserJobs:
        return consumeJobs(batch, instrument(env), true);
      case QUEUES.deadLetters:
        return consumeDeadLetters(batch, instrument(env));
      case QUEUES.webhooks:
        return consumeWebhooks(batch, instrument(env));
      case QUEUES.webhookDeadLetters:
        return consumeWebhookDeadLetters(batch, instrument(env));
      default:
        throw new Error(`no consumer for queue ${batch.queue}`);
    }
  },
  async scheduled(_controller, env, ctx) {
    // Every minute: log only the invocations that found something to do.
    const report = sweep(instrument(env), now()).then((r) => {
      const found =
        r.bodies_deleted + r.runs_deleted + r.quiet_runs_resumed + r.deleted_runs_deleted + r.collections_deleted;
      if (found > 0 || !r.complete) console.log("retention sweep", JSON.stringify(r));
    });
    ctx.waitUntil(report);
  },
} satisfies ExportedHandler<Env, unknown>;
