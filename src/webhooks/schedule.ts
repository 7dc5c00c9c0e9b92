/**
 * When a failed webhook delivery is tried again: about 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 12 h
 * after each failed attempt (the last value repeats), each with ± 20 % jitter so the retries of
 * many deliveries that failed together (a receiver's outage) do not come back together; never
 * later than 24 h after the first attempt, which is the last one. Pure, so it is table-tested.
 */
export const RETRY_DELAYS_S = [30, 120, 600, 3_600, 3 * 3_600, 6 * 3_600, 12 * 3_600] as const;
/** A delivery is tried until this long after its first attempt; the attempt at the end of it is the last. */
export const RETRY_WINDOW_MS = 24 * 3_600_000;
export const JITTER = 0.2;
/** A queue message can be delayed by at most 12 h (Cloudflare Queues). */
export const MAX_QUEUE_DELAY_S = 12 * 3_600;

/**
 * The instant of the next attempt after `attempts` failed ones (the last at `lastMs`), or null when
 * the delivery is out of time. `random` is in [0, 1): 0.5 is the schedule's nominal value.
 */
export function nextAttemptAt(firstMs: number, lastMs: number, attempts: number, random: number): number | null {
  const end = firstMs + RETRY_WINDOW_MS;
  if (lastMs >= end) return null;
  const nominal = RETRY_DELAYS_S[Math.min(attempts, RETRY_DELAYS_S.length) - 1];
  const jittered = Math.min(MAX_QUEUE_DELAY_S, Math.round(nominal * (1 - JITTER + 2 * JITTER * random)));
  return Math.min(end, lastMs + Math.max(1, jittered) * 1000);
}

/** The queue delay, in whole seconds, that brings a message back at `atMs` (never 0: 0 means "now"). */
export const delaySecondsUntil = (atMs: number, nowMs: number): number =>
  Math.min(MAX_QUEUE_DELAY_S, Math.max(1, Math.ceil((atMs - nowMs) / 1000)));
