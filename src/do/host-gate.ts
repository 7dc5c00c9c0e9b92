import { DurableObject } from "cloudflare:workers";
import { now } from "../clock";
import { instrument } from "../metrics";
import * as gate from "./gate-store";
import { grantOnHost, hostLimit, type Politeness, spread, WAIT_POLL_MS } from "./host-policy";
import { leaseMs } from "./pacing";

/**
 * How long the gate keeps a run's grants without hearing from the run: the longest lease a released
 * job can hold (its 120 s timeout cap, all attempts and backoffs) and a minute. A live run renews
 * them at every exchange, and its alarm comes back at its next lease at the latest; a run whose
 * object stopped gives its slots back when this runs out.
 */
export const GRANT_TTL_MS = leaseMs(120_000) + 60_000;

/** What a run's object tells the gate, and asks of it, in its one call per recorded batch. */
export interface Exchange {
  run_id: string;
  politeness: Politeness;
  /**
   * Every host the run has jobs in flight to, with how many. Absolute, not a delta: the gate's count
   * for the run becomes exactly this, so a lost or repeated call cannot leak or double slots.
   */
  held: Record<string, number>;
  /** Pending jobs per host the run would release now. */
  want: Record<string, number>;
  /** The most jobs the run may release now over all hosts (the room in its window). */
  room: number;
  /** Hosts that answered 429/503 with Retry-After, and until when (ms) no job of the tenant may start there. */
  backoff: Record<string, number>;
}

export interface Grants {
  /** Jobs the run may release now, per host; held by the run from now on. */
  grants: Record<string, number>;
  /** When a host that was wanted and not (fully) granted may be asked again; null when none waits. */
  next_at: number | null;
}

/**
 * One per tenant (named by the tenant): the per-host politeness of all of the tenant's runs in
 * progress. Runs' objects call it; it calls nothing, so every call is one synchronous transaction.
 *
 * Invariants it protects:
 * - per host, the slots granted over the tenant's runs never pass the asking run's limit
 *   (hostLimit): a run is granted a slot only while the host's total is below its own limit;
 * - no slot is granted on a host before its next start (the last returned slot plus the run's
 *   delay) or during its backoff (a 429/503 with Retry-After, capped at MAX_HOST_BACKOFF_MS);
 * - a run's slots are what it last reported (`held`), renewed for GRANT_TTL_MS, and all go when the
 *   run ends (`end`) or stops renewing them, so no slot leaks for longer than a job's lease;
 * - runs waiting for a full host get an equal share of it as the others return slots.
 */
export class HostGate extends DurableObject<Env> {
  private sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
    gate.migrate(this.sql);
  }

  async exchange(x: Exchange): Promise<Grants> {
    return this.ctx.storage.transactionSync(() => {
      const t = now();
      gate.dropExpired(this.sql, t);
      gate.dropPastWaiters(this.sql, t);
      gate.dropPastHosts(this.sql, t);
      for (const [host, until] of Object.entries(x.backoff))
        gate.pushHostTimes(this.sql, host, { backoff_until_ms: until });
      this.settle(x, t);
      return this.grant(x, t);
    });
  }

  /** A run ended (completed, cancelled or deleted): its slots return, its hosts' delays start now. */
  async end(input: { run_id: string; politeness: Politeness }): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      const t = now();
      this.settle({ run_id: input.run_id, politeness: input.politeness, held: {} }, t);
      gate.dropRun(this.sql, input.run_id);
    });
  }

  /** Makes the run's grants what it reports; a host whose count fell starts its delay now. */
  private settle(x: Pick<Exchange, "run_id" | "politeness" | "held">, t: number) {
    const before = gate.grantsOf(this.sql, x.run_id);
    const expires = t + GRANT_TTL_MS;
    for (const [host, was] of before) {
      const held = x.held[host] ?? 0;
      if (held < was && x.politeness.per_host_delay_ms > 0)
        gate.pushHostTimes(this.sql, host, { next_start_ms: t + x.politeness.per_host_delay_ms });
      if (!(host in x.held)) gate.setGrant(this.sql, host, x.run_id, 0, expires);
    }
    for (const [host, held] of Object.entries(x.held)) gate.setGrant(this.sql, host, x.run_id, held, expires);
  }

  private grant(x: Exchange, t: number): Grants {
    const asked: { host: string; wanted: number; n: number }[] = [];
    let nextAt: number | null = null;
    for (const [host, want] of Object.entries(x.want)) {
      const view = {
        in_flight: gate.inFlight(this.sql, host),
        held: x.held[host] ?? 0,
        other_waiters: gate.otherWaiters(this.sql, host, x.run_id, t),
        ...gate.hostTimes(this.sql, host),
      };
      const wanted = Math.min(want, hostLimit(x.politeness));
      const g = grantOnHost(view, wanted, x.politeness, t);
      asked.push({ host, wanted, n: g.n });
      if (g.again_at !== null) nextAt = Math.min(nextAt ?? g.again_at, g.again_at);
    }
    const shared = spread(
      asked.map((a) => [a.host, a.n]),
      x.room,
    );
    const grants: Record<string, number> = {};
    const expires = t + GRANT_TTL_MS;
    for (const a of asked) {
      const n = shared.get(a.host) ?? 0;
      if (n > 0) {
        grants[a.host] = n;
        gate.setGrant(this.sql, a.host, x.run_id, (x.held[a.host] ?? 0) + n, expires);
      }
      // A run the host itself held back (not its own window) waits for it, and the waiting runs then
      // share the host; the mark lapses unless the run keeps asking.
      gate.setWaiter(this.sql, a.host, x.run_id, a.n < a.wanted ? t + 2 * WAIT_POLL_MS : null);
    }
    return { grants, next_at: nextAt };
  }
}
