import { createRoute } from "@hono/zod-openapi";
import { iso, now, nowIso } from "../../clock";
import { settings } from "../../config";
import { ensureSecret, previousStillSigns, rotateSecret, type SecretRow } from "../../db/webhooks";
import { runObject } from "../../do/objects";
import { normalizeTargetUrl, targetRefusal } from "../../fetchers/url-guard";
import {
  Delivery,
  DeliveryList,
  DeliveryListQuery,
  DeliveryParams,
  RunParams,
  type Webhook,
  WebhookSecret,
} from "../../schemas";
import { newSecret } from "../../webhooks/signing";
import { decodeCursor, encodeCursor } from "../cursor";
import { ApiError, notFound } from "../errors";
import { deliveryView } from "../views";
import { errorResponses, router, security } from "./common";

/** How long a rotated-out secret keeps signing beside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

/**
 * A webhook as stored (JSON, its URL normalised), after the URL guard targets pass at create; a
 * refused URL is 422 naming `<path>.url`. The guard runs again at every delivery attempt.
 */
export function webhookJson(env: Env, w: Webhook, path: string): string {
  const url = normalizeTargetUrl(w.url);
  const refusal = targetRefusal(url, { allowLoopback: settings(env).LOCAL_DEV });
  if (refusal) {
    throw new ApiError("validation_failed", `Invalid request body: ${path}.url: ${refusal}.`, {
      errors: [{ path: `${path}.url`, message: refusal }],
    });
  }
  return JSON.stringify({ url, events: w.events });
}

// ── The tenant's signing secret (/v1/webhooks) ─────────────────────────────────────────────────
export const webhookSecrets = router();

const secretView = (r: SecretRow, nowMs: number) => ({
  secret: r.secret,
  previous_valid_until: previousStillSigns(r, nowMs) ? r.previous_until : null,
});

webhookSecrets.openapi(
  createRoute({
    method: "get",
    path: "/secret",
    operationId: "getWebhookSecret",
    tags: ["Webhooks"],
    summary: "The tenant's webhook signing secret (created on first use)",
    security,
    responses: {
      200: { content: { "application/json": { schema: WebhookSecret } }, description: "The secret" },
      ...errorResponses,
    },
  }),
  async (c) => {
    const row = await ensureSecret(c.env.DB, c.get("tenant"), newSecret(), nowIso());
    return c.json(secretView(row, now()), 200);
  },
);

webhookSecrets.openapi(
  createRoute({
    method: "post",
    path: "/secret/rotate",
    operationId: "rotateWebhookSecret",
    tags: ["Webhooks"],
    summary: "Replace the signing secret; the old one also signs for 24 hours",
    description:
      "Deliveries carry one signature per valid secret (space-separated), so a receiver can switch " +
      "to the new secret at any time within 24 hours. Rotating again within them drops the oldest.",
    security,
    responses: {
      200: { content: { "application/json": { schema: WebhookSecret } }, description: "The new secret" },
      ...errorResponses,
    },
  }),
  async (c) => {
    const t = now();
    const row = await rotateSecret(c.env.DB, {
      tenant: c.get("tenant"),
      fresh: newSecret(),
      at: iso(t),
      previousUntil: iso(t + ROTATION_OVERLAP_MS),
    });
    return c.json(secretView(row, t), 200);
  },
);

// ── A run's delivery log (/v1/async/collections/{id}/runs/{run_id}/deliveries) ──────────────────
export const deliveries = router();

deliveries.openapi(
  createRoute({
    method: "get",
    path: "/{id}/runs/{run_id}/deliveries",
    operationId: "listDeliveries",
    tags: ["Webhooks"],
    summary: "A run's webhook deliveries, oldest first",
    security,
    request: { params: RunParams, query: DeliveryListQuery },
    responses: {
      200: { content: { "application/json": { schema: DeliveryList } }, description: "A page" },
      ...errorResponses,
    },
  }),
  async (c) => {
    const { id, run_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const key = decodeCursor("deliveries", q.cursor, ["position"]);
    const page = await runObject(c.env, run_id).listDeliveries({
      tenant: c.get("tenant"),
      collection_id: id,
      after_seq: (key?.[0] as number | undefined) ?? 0,
      limit: q.limit,
    });
    if (!page) throw notFound("Run");
    const last = page.rows.at(-1);
    return c.json(
      {
        items: page.rows.map(deliveryView),
        has_more: page.has_more,
        cursor_next: page.has_more && last ? encodeCursor("deliveries", [last.seq]) : null,
      },
      200,
    );
  },
);

deliveries.openapi(
  createRoute({
    method: "post",
    path: "/{id}/runs/{run_id}/deliveries/{delivery_id}/redeliver",
    operationId: "redeliverWebhook",
    tags: ["Webhooks"],
    summary: "Attempt a delivery again now, with the same webhook-id",
    description:
      "One attempt, queued at once, signed with the secrets valid now. It does not change the delivery's " +
      "own retry schedule; a success marks the delivery delivered.",
    security,
    request: { params: DeliveryParams },
    responses: {
      202: { content: { "application/json": { schema: Delivery } }, description: "The attempt is queued" },
      ...errorResponses,
    },
  }),
  async (c) => {
    const { id, run_id, delivery_id } = c.req.valid("param");
    const d = await runObject(c.env, run_id).redeliver({ tenant: c.get("tenant"), collection_id: id, delivery_id });
    if (!d) throw notFound("Delivery");
    return c.json(deliveryView(d), 202);
  },
);
