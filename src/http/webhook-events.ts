import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { JobCompletedEvent, RunCompletedEvent } from "../schemas";

/** The Standard Webhooks headers every delivery carries, as a receiver sees them. */
const DeliveryHeaders = z.object({
  "webhook-id": z.string().openapi({ description: "The delivery's id: the same on every attempt (deduplicate on it)" }),
  "webhook-timestamp": z.string().openapi({ description: "Unix seconds when this attempt was signed" }),
  "webhook-signature": z.string().openapi({
    description:
      'Space-separated "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", one per secret that signs ' +
      "(two for 24 h after a rotation); the key is the base64-decoded part of the whsec_ secret",
  }),
});

/** The receiver authenticates a delivery by its webhook-signature header, not by a credential of ours. */
const security: { [scheme: string]: string[] }[] = [];

const received = {
  "2XX": { description: "Received; any other answer, or none within 10 s, is retried" },
};

/** The OpenAPI 3.1 `webhooks` section: what the API sends to a run's webhook URL. */
export function registerWebhookEvents(registry: OpenAPIHono["openAPIRegistry"]) {
  registry.registerWebhook({
    method: "post",
    path: "run.completed",
    operationId: "runCompletedWebhook",
    tags: ["Webhooks"],
    security,
    summary: "A run ended (completed or cancelled); sent once per run",
    request: {
      headers: DeliveryHeaders,
      body: { content: { "application/json": { schema: RunCompletedEvent } }, required: true },
    },
    responses: received,
  });
  registry.registerWebhook({
    method: "post",
    path: "job.completed",
    operationId: "jobCompletedWebhook",
    tags: ["Webhooks"],
    security,
    summary: "Finished jobs of one recorded batch (up to 100); every finished job is sent once",
    request: {
      headers: DeliveryHeaders,
      body: { content: { "application/json": { schema: JobCompletedEvent } }, required: true },
    },
    responses: received,
  });
}
