/** A run's webhook and the queue message of one delivery: ids only, the payload is read at delivery time. */
export const WEBHOOK_EVENTS = ["run.completed", "job.completed"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookConfig {
  url: string;
  events: WebhookEvent[];
}

/** The pinned webhook of a run or collection (stored as JSON), or null. */
export function parseWebhook(json: string | null): WebhookConfig | null {
  if (!json) return null;
  const w = JSON.parse(json) as WebhookConfig;
  return { url: w.url, events: w.events };
}

/**
 * A delivery to attempt. `manual`: a redelivery asked for by the client, one attempt whatever its
 * result, beside the delivery's own schedule (which a scheduled message carries on with retries).
 */
export interface DeliveryMessage {
  kind: "webhook";
  run_id: string;
  delivery_id: string;
  manual: boolean;
}

export function parseDeliveryMessage(body: unknown): DeliveryMessage | null {
  if (typeof body !== "object" || body === null) return null;
  const m = body as Record<string, unknown>;
  const ok =
    m.kind === "webhook" &&
    typeof m.run_id === "string" &&
    typeof m.delivery_id === "string" &&
    typeof m.manual === "boolean";
  return ok ? (m as unknown as DeliveryMessage) : null;
}
