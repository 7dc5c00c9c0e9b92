import { DurableObject } from "cloudflare:workers";
import { now } from "../clock";
import { instrument } from "../metrics";
import * as gate from "./gate-store";
import {
  countOn,
  grantOnHost,
  hostLimit,
  hostRecord,
  type Politeness,
  setOn,
  spread,
  WAIT_POLL_MS,
} from "./host-policy";
import { runObject } from "./objects";
import { leaseMs } from "./pacing";

/**
 * How long the gate keeps a run's grants without hearing from the run: the longest lease a released
 * job can hold (its 120 s timeout cap, all attempts and backoffs) and a minute. A live run renews
 * them at every exchange, and its alarm comes back to renew them half this after its last one
 * (GRANT_RENEW_MS) if nothing else did; a run whose object stopped gives its slots back when this runs out.
 */
export const GRANT_TTL_MS = leaseMs(120_000) + 60_000;
/** A run still waiting for a host this long after its holders were told of it tells them again. */
export const NEWS_REPEAT_MS = 5_000;

/**
 * What a run's object tells the gate, and asks of it. It calls only when something would change
 * (see RunCoordinator): a slot freed by an outcome stays the run's and is refilled locally.
 */
export interface Exchange {
  run_id: string;
  politeness: Politeness;
  /**
   * Every host the run keeps slots on, with how many: its jobs in flight there, plus slots it keeps
   * for its own pending jobs of that host. Absolute, not a delta: the gate's count for the run
   * becomes exactly this, so a lost or repeated call cannot leak or double slots.
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
  /**
   * Hosts of `held` or `want` another run of the tenant waits for: the run keeps no slot there
   * beyond its jobs in flight and asks at every refill, so the waiting runs get their share.
   */
  busy: string[];
  /** Hosts of `held` or `want` where no job may start yet (a backoff, or the delay), and until when. */
  hold_off: Record<string, number>;
}

/**
 * One per tenant (named by the tenant): the per-host politeness of all of the tenant's runs in
 * progress. Runs' objects call it; every call is one synchronous transaction, and the only calls
 * it makes are news to runs holding slots (below), after its transaction, never awaited by the caller.
 *
 * Invariants it protects:
 * - per host, the slots granted over the tenant's runs never pass the asking run's limit
 *   (hostLimit): a run is granted a slot only while the host's total is below its own limit;
 * - no slot is granted on a host before its next start (the last returned slot plus the run's
 *   delay) or during its backoff (a 429/503 with Retry-After, capped at MAX_HOST_BACKOFF_MS);
 * - a run's slots are what it last reported (`held`), renewed for GRANT_TTL_MS, and all go when the
 *   run ends (`end`) or stops renewing them, so no slot leaks for longer than a job's lease;
 * - runs waiting for a full host get an equal share of it as the others return slots.
 *
 * A run keeps its slots between exchanges and refills them from its own pending jobs without
 * asking (RunCoordinator), so a busy run costs one call at its start and one at its end, not one
 * per recorded batch. What it cannot see from its own jobs it hears from here: when a run starts
 * waiting for a host, or a host's backoff moves later, every other run holding slots on that host
 * is told (`hostNews`) and asks at once, giving back slots it kept unused; the answer's `busy` and
 * `hold_off` then stop it keeping or reusing slots there. A lost news call is sent again while the waiter is
 * still refused NEWS_REPEAT_MS later (it asks every WAIT_POLL_MS), and else made good at the holder's
 * next exchange.
 */
export class HostGate extends DurableObject<Env> {
  private sql: SqlStorage;
  /**
   * When each run holding a host was last told of a run waiting for it (keyed by host and run). A
   * refused run tells the holders not told within NEWS_REPEAT_MS: a new waiter is heard at once, a
   * lost news call costs a waiting run seconds (not a holder's renewal, GRANT_TTL_MS / 2), and a
   * holder is told once per NEWS_REPEAT_MS however many runs wait, so told holders that become
   * waiters themselves do not tell each other in turn. In memory: a gate that restarts tells
   * again, at worst once more than needed.
   */
  private toldAt = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env));
    this.sql = ctx.storage.sql;
    gate.migrate(this.sql);
  }

  async exchange(x: Exchange): Promise<Grants> {
    const tell = new Set<string>();
    const answer = this.ctx.storage.transactionSync(() => {
      const t = now();
      gate.dropExpired(this.sql, t);
      gate.dropPastWaiters(this.sql, t);
      gate.dropPastHosts(this.sql, t);
      for (const [host, until] of Object.entries(x.backoff)) {
        // Other runs reuse their slots without asking: a later backoff is news to them. One already over
        // (a 429 with Retry-After: 0) holds nobody back, so it is not.
        if (until > Math.max(t, gate.hostTimes(this.sql, host).backoff_until_ms))
          for (const r of gate.holdersOf(this.sql, host, x.run_id)) tell.add(r);
        gate.pushHostTimes(this.sql, host, { backoff_until_ms: until });
      }
      this.settle(x, t);
      return this.grant(x, t, tell);
    });
    if (tell.size > 0) this.ctx.waitUntil(this.tell([...tell]));
    return answer;
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
      const held = countOn(x.held, host);
      if (held < was && x.politeness.per_host_delay_ms > 0)
        gate.pushHostTimes(this.sql, host, { next_start_ms: t + x.politeness.per_host_delay_ms });
      if (!Object.hasOwn(x.held, host)) gate.setGrant(this.sql, host, x.run_id, 0, expires);
    }
    for (const [host, held] of Object.entries(x.held)) gate.setGrant(this.sql, host, x.run_id, held, expires);
  }

  /** News for runs holding slots: each asks at once. Best effort (see the class's note). */
  private async tell(runIds: string[]) {
    const sent = await Promise.allSettled(runIds.map((id) => runObject(this.env, id).hostNews()));
    for (const r of sent) if (r.status === "rejected") console.error("telling a run of host news failed", r.reason);
  }

  private grant(x: Exchange, t: number, tell: Set<string>): Grants {
    for (const [key, at] of this.toldAt) if (t - at >= NEWS_REPEAT_MS) this.toldAt.delete(key);
    // Each host's other waiters and limits, read once: this exchange changes only its own run's
    // waiter marks and grants, which neither the other runs' waiters nor the host's times depend on.
    const looked = new Map<string, { others: number } & ReturnType<typeof gate.hostTimes>>();
    const look = (host: string) => {
      const known = looked.get(host);
      if (known) return known;
      const read = { others: gate.otherWaiters(this.sql, host, x.run_id, t), ...gate.hostTimes(this.sql, host) };
      looked.set(host, read);
      return read;
    };
    const asked: { host: string; wanted: number; n: number }[] = [];
    let nextAt: number | null = null;
    for (const [host, want] of Object.entries(x.want)) {
      const { others, next_start_ms, backoff_until_ms } = look(host);
      const view = {
        in_flight: gate.inFlight(this.sql, host),
        held: countOn(x.held, host),
        other_waiters: others,
        next_start_ms,
        backoff_until_ms,
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
    const grants = hostRecord();
    const expires = t + GRANT_TTL_MS;
    for (const a of asked) {
      const n = shared.get(a.host) ?? 0;
      if (n > 0) {
        setOn(grants, a.host, n);
        gate.setGrant(this.sql, a.host, x.run_id, countOn(x.held, a.host) + n, expires);
      }
      // A run the host itself held back (not its own window) waits for it, and the waiting runs then
      // share the host; the mark lapses unless the run keeps asking. A waiter is news to the runs
      // holding the host, which would otherwise keep reusing their slots without asking.
      const waits = a.n < a.wanted;
      for (const r of waits ? gate.holdersOf(this.sql, a.host, x.run_id) : []) {
        const key = `${a.host} ${r}`;
        if (this.toldAt.has(key)) continue;
        tell.add(r);
        this.toldAt.set(key, t);
      }
      gate.setWaiter(this.sql, a.host, x.run_id, waits ? t + 2 * WAIT_POLL_MS : null);
    }
    const busy: string[] = [];
    const holdOff = hostRecord();
    for (const host of new Set([...Object.keys(x.held), ...Object.keys(x.want)])) {
      const seen = look(host);
      if (seen.others > 0) busy.push(host);
      const until = Math.max(seen.next_start_ms, seen.backoff_until_ms);
      if (until > t) setOn(holdOff, host, until);
    }
    return { grants, next_at: nextAt, busy, hold_off: holdOff };
  }
}
