import { DurableObject } from "cloudflare:workers";
import { instrument } from "../metrics";
import { LIMITS } from "../config";

export type BeginResult =
  | { state: "new"; resourceId: string; attempt: number }
  | { state: "in_flight"; retryAfterSeconds: number }
  | { state: "mismatch" }
  | { state: "replay"; status: number; body: string; headers: Record<string, string> };

interface Rec {
  fingerprint: string;
  state: "in_flight" | "done";
  status: number;
  body: string;
  headers: string;
  created_ms: number;
  resource_id: string | null;
  lease_until_ms: number;
  attempt: number;
}

/**
 * How long a request that finds the key in flight should wait: an attempt that began moments ago
 * usually answers within a second or two; one that has run for long has probably died, and no
 * retry can run before its lease ends.
 */
export function inFlightRetryAfter(nowMs: number, leaseUntilMs: number, leaseMs = LIMITS.idempotencyLeaseMs): number {
  const left = Math.ceil((leaseUntilMs - nowMs) / 1000);
  const age = Math.floor((nowMs - (leaseUntilMs - leaseMs)) / 1000);
  return Math.max(1, Math.min(left, age));
}

/**
 * Idempotency-Key records (draft-ietf-httpapi-idempotency-key-header), one object per tenant and
 * key, so concurrent requests with one key are serialised here and only one attempt runs at a time.
 *
 * The first request reserves the id of the resource it creates, and holds a lease on the key. If
 * it dies before complete(), the lease runs out and a retry becomes the next attempt with the same
 * id: creates are idempotent on that id, so a retry converges on whatever the dead attempt left
 * instead of making a second resource. Records live 24 h; `now` is passed in by the caller so
 * tests can move the clock.
 */
export class IdempotencyStore extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS rec (
      id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, state TEXT NOT NULL,
      status INTEGER, body TEXT, headers TEXT, created_ms INTEGER NOT NULL,
      resource_id TEXT, lease_until_ms INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0
    )`);
    // Records written before leases existed (kept up to 24 h): an in-flight one has an expired
    // lease and no reserved id, so its retry runs as it did then.
    const columns = this.sql
      .exec("SELECT name FROM pragma_table_info('rec')")
      .toArray()
      .map((r) => r.name);
    if (!columns.includes("resource_id")) {
      this.sql.exec(`ALTER TABLE rec ADD COLUMN resource_id TEXT;
        ALTER TABLE rec ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE rec ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0`);
    }
  }

  /**
   * Synchronous SQL only, so two concurrent begin() calls can never both start an attempt.
   * `freshId` becomes the reserved resource id when the key is new.
   */
  async begin(fingerprint: string, nowMs: number, freshId: string): Promise<BeginResult> {
    const rec = this.sql.exec("SELECT * FROM rec WHERE id = 1").toArray()[0] as unknown as Rec | undefined;
    if (rec && nowMs - rec.created_ms < LIMITS.idempotencyTtlMs) {
      if (rec.fingerprint !== fingerprint) return { state: "mismatch" };
      if (rec.state === "done") {
        return { state: "replay", status: rec.status, body: rec.body, headers: JSON.parse(rec.headers) };
      }
      if (nowMs < rec.lease_until_ms) {
        return { state: "in_flight", retryAfterSeconds: inFlightRetryAfter(nowMs, rec.lease_until_ms) };
      }
      // The previous attempt died or gave up: this one takes over, with the same resource id.
      const resourceId = rec.resource_id ?? freshId;
      const attempt = rec.attempt + 1;
      this.sql.exec(
        "UPDATE rec SET resource_id = ?, lease_until_ms = ?, attempt = ? WHERE id = 1",
        resourceId,
        nowMs + LIMITS.idempotencyLeaseMs,
        attempt,
      );
      return { state: "new", resourceId, attempt };
    }
    this.sql.exec(
      `INSERT OR REPLACE INTO rec (id, fingerprint, state, created_ms, resource_id, lease_until_ms, attempt)
       VALUES (1, ?, 'in_flight', ?, ?, ?, 1)`,
      fingerprint,
      nowMs,
      freshId,
      nowMs + LIMITS.idempotencyLeaseMs,
    );
    await this.ctx.storage.setAlarm(nowMs + LIMITS.idempotencyTtlMs);
    return { state: "new", resourceId: freshId, attempt: 1 };
  }

  /**
   * Stores the response of the request's effect. Any attempt may store it (they all converged on
   * the same resource); the first one stored is the one replayed.
   */
  async complete(status: number, body: string, headers: Record<string, string>): Promise<void> {
    this.sql.exec(
      "UPDATE rec SET state = 'done', status = ?, body = ?, headers = ? WHERE id = 1 AND state = 'in_flight'",
      status,
      body,
      JSON.stringify(headers),
    );
  }

  /**
   * The attempt failed on our side, or said nothing about its effect: a retry may run at once. The
   * reserved id stays, so the retry converges on whatever this attempt left. Only the attempt that
   * holds the lease may end it.
   */
  async release(attempt: number): Promise<void> {
    this.sql.exec("UPDATE rec SET lease_until_ms = 0 WHERE id = 1 AND state = 'in_flight' AND attempt = ?", attempt);
  }

  async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
