import { iso, now, nowIso } from "../clock";
import { settings, urlGuard } from "../config";
import { ensureSecret, previousStillSigns, type SecretRow } from "../db/webhooks";
import type { AttemptInput, AttemptResult } from "../do/run-coordinator";
import { runObject } from "../do/objects";
import { jobView, runSummary } from "../http/views";
import { mapLimit } from "../queue/pool";
import { type DeliveryMessage, parseDeliveryMessage } from "./messages";
import { newSecret, signedHeaders } from "./signing";

/** A receiver has this long to answer (API.md); no answer is a failed attempt. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Attempts in flight per batch: the Workers limit of simultaneous outgoing connections per invocation. */
const PARALLELISM = 6;
/** When reading or reporting to the run's object failed: the message comes back after this. */
const OBJECT_RETRY_S = 30;
/** The part of a receiver's error answer kept in the delivery log. */
const ERROR_BODY_CHARS = 200;

/** The JSON body of a delivery, built from the run's rows at attempt time. */
export function payload(input: AttemptInput, nowMs: number): string {
  const { run, delivery } = input;
  const timestamp = iso(delivery.created_ms);
  if (delivery.event === "run.completed") {
    return JSON.stringify({ type: "run.completed", timestamp, data: runSummary(run) });
  }
  const jobs = input.jobs.map((r) => jobView(run, r, nowMs));
  return JSON.stringify({
    type: "job.completed",
    timestamp,
    data: { run_id: run.run_id, collection_id: run.collection_id, jobs },
  });
}

/** The secrets that sign now: the current one, and the rotated-out one until its 24 h are over. */
export function signingSecrets(row: SecretRow, nowMs: number): string[] {
  return row.previous_secret !== null && previousStillSigns(row, nowMs)
    ? [row.secret, row.previous_secret]
    : [row.secret];
}

/**
 * One attempt: the URL guard (a refusal is permanent), then a signed POST with a timeout and no
 * redirects (a 3xx is a failed attempt). Whatever the receiver does is an AttemptResult; only a
 * secret that cannot be read throws, and the consumer then retries the message as it is.
 */
async function attempt(
  env: Env,
  msg: DeliveryMessage,
  input: AttemptInput,
  secrets: (tenant: string) => Promise<SecretRow>,
): Promise<AttemptResult> {
  const result = (r: Partial<AttemptResult>): AttemptResult => ({
    delivery_id: msg.delivery_id,
    manual: msg.manual,
    status_code: null,
    error: null,
    permanent: false,
    ...r,
  });
  const refusal = urlGuard(env)(input.delivery.url);
  if (refusal) return result({ error: `the URL guard refused the webhook URL: ${refusal}`, permanent: true });
  const body = payload(input, now());
  // The receiver checks the timestamp against its own clock, so it is the real one whatever now() says.
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = await signedHeaders(
    signingSecrets(await secrets(input.run.tenant), now()),
    msg.delivery_id,
    timestamp,
    body,
  );
  const timeoutMs = settings(env).LOCAL_DEV
    ? (settings(env).TEST_WEBHOOK_TIMEOUT_MS ?? DELIVERY_TIMEOUT_MS)
    : DELIVERY_TIMEOUT_MS;
  try {
    const res = await fetch(input.delivery.url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": "scrape-api-webhooks/1" },
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    const ok = res.status >= 200 && res.status < 300;
    const text = ok ? "" : await answerPrefix(res).catch(() => "");
    if (ok) await res.body?.cancel();
    const error = ok
      ? null
      : res.status >= 300 && res.status < 400
        ? `the receiver answered ${res.status} (redirects are not followed)`
        : `the receiver answered ${res.status}${text ? `: ${text}` : ""}`;
    return result({ status_code: res.status, error });
  } catch (e) {
    const timedOut = e instanceof DOMException && (e.name === "TimeoutError" || e.name === "AbortError");
    return result({ error: timedOut ? `no answer within ${timeoutMs} ms` : `the request failed: ${String(e)}` });
  }
}

/**
 * The webhook queue's consumer: each message is one delivery's attempt. Acked when the delivery is
 * settled (delivered, failed, or this was a redelivery), retried with the delay its schedule gives
 * otherwise; when the run's object cannot be reached, retried after OBJECT_RETRY_S (a message that
 * keeps failing goes to the dead-letter queue, whose consumer marks the delivery failed).
 */
export async function consumeWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const cache = new Map<string, Promise<SecretRow>>();
  const secrets = (tenant: string) => {
    let p = cache.get(tenant);
    if (!p) {
      p = ensureSecret(env.DB, tenant, newSecret(), nowIso());
      cache.set(tenant, p);
      p.catch(() => cache.delete(tenant));
    }
    return p;
  };
  await mapLimit([...batch.messages], PARALLELISM, async (msg) => {
    const m = parseDeliveryMessage(msg.body);
    if (!m) {
      console.error(`dropping a message on ${batch.queue} (id ${msg.id}): not a webhook delivery`);
      return msg.ack();
    }
    try {
      const object = runObject(env, m.run_id);
      const input = await object.beginAttempt({ delivery_id: m.delivery_id, manual: m.manual });
      if (!input) return msg.ack();
      const next = await object.finishAttempt(await attempt(env, m, input, secrets));
      if (next) msg.retry({ delaySeconds: next.retry_in_s });
      else msg.ack();
    } catch (e) {
      console.error(`webhook delivery ${m.delivery_id} of run ${m.run_id} could not be attempted`, e);
      msg.retry({ delaySeconds: OBJECT_RETRY_S });
    }
  });
}

/** Deliveries whose messages outlived their retries end failed (unless delivered meanwhile). */
export async function consumeWebhookDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      const m = parseDeliveryMessage(msg.body);
      try {
        if (m && !m.manual) await runObject(env, m.run_id).deliveryDeadLettered({ delivery_id: m.delivery_id });
        msg.ack();
      } catch (e) {
        console.error("marking a dead-lettered webhook delivery failed; retrying it", e);
        msg.retry();
      }
    }),
  );
}

/**
 * The start of a failed answer, for the delivery log: read no further than that, so a receiver that
 * streams a huge error body cannot fill the consumer's memory (and fail other tenants' deliveries).
 */
async function answerPrefix(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  // UTF-8 takes at most 4 bytes a character.
  while (size < ERROR_BODY_CHARS * 4) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.byteLength;
  }
  await reader.cancel();
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(bytes).slice(0, ERROR_BODY_CHARS);
}
