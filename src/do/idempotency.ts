import { DurableObject } from "cloudflare:workers";
import { instrument } from "../metrics";
import { LIMITS } from "../config";

export type BeginResult =
  | { state: "new" }
  | { state: "in_flight" }
  | { state: "mismatch" }
  | { state: "replay"; status: number; body: string; headers: Record<string, string> };

/**
 * Idempotency-Key records (draft-ietf-httpapi-idempotency-key-header), one object per tenant and
 * key, so concurrent requests with one key are serialised here and only the first one runs.
 * Records live 24 h; `now` is passed in by the caller so tests can move the clock.
 */
export class IdempotencyStore extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS rec (
      id INTEGER PRIMARY KEY CHECK (id = 1), fingerprint TEXT NOT NULL, state TEXT NOT NULL,
      status INTEGER, body TEXT, headers TEXT, created_ms INTEGER NOT NULL
    )`);
  }

  /** Synchronous SQL only, so two concurrent begin() calls can never both see "new". */
  async begin(fingerprint: string, nowMs: number): Promise<BeginResult> {
    const rec = this.sql.exec("SELECT * FROM rec WHERE id = 1").toArray()[0] as
      | { fingerprint: string; state: string; status: number; body: string; headers: string; created_ms: number }
      | undefined;
    if (rec && nowMs - rec.created_ms < LIMITS.idempotencyTtlMs) {
      if (rec.fingerprint !== fingerprint) return { state: "mismatch" };
      if (rec.state === "in_flight") return { state: "in_flight" };
      return { state: "replay", status: rec.status, body: rec.body, headers: JSON.parse(rec.headers) };
    }
    this.sql.exec(
      "INSERT OR REPLACE INTO rec (id, fingerprint, state, created_ms) VALUES (1, ?, 'in_flight', ?)",
      fingerprint, nowMs,
    );
    await this.ctx.storage.setAlarm(nowMs + LIMITS.idempotencyTtlMs);
    return { state: "new" };
  }

  async complete(status: number, body: string, headers: Record<string, string>): Promise<void> {
    this.sql.exec("UPDATE rec SET state = 'done', status = ?, body = ?, headers = ? WHERE id = 1", status, body, JSON.stringify(headers));
  }

  /** The first request failed on our side: let a retry with the same key run afresh. */
  async release(): Promise<void> {
    this.sql.exec("DELETE FROM rec WHERE id = 1");
  }

  async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
