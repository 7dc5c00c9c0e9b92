/**
 * The API's notion of "now". Retention, idempotency expiry and deadlines read it, so tests can move
 * time forward (setNow) instead of waiting 24 h or 90 days. Production never calls setNow.
 */
let fixed: number | null = null;

export const now = (): number => fixed ?? Date.now();
export const iso = (ms: number): string => new Date(ms).toISOString();
export const nowIso = (): string => iso(now());

/** Test hook: pin the clock to `ms` (or release it with null). */
export function setNow(ms: number | null): void {
  fixed = ms;
}
