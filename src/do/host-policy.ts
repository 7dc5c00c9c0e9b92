/**
 * Per-host politeness, the pure part: which host a job counts against, and how many more jobs a run
 * may start on a host now. The HostGate object keeps the state; this decides. Table-tested alone.
 *
 * A job is "in flight" on its host from its release by its run's object until its outcome (or its
 * return after a 429/503) is recorded: queued, deferred or running. Counting queued jobs keeps the
 * promise without any call at the instant a request starts, at the price of a little speed.
 */

export interface Politeness {
  /** Jobs in flight to one host, over all of the tenant's runs in progress. */
  per_host_concurrency: number;
  /** Least time between the starts of two requests to one host. */
  per_host_delay_ms: number;
}

export const DEFAULT_POLITENESS: Politeness = { per_host_concurrency: 6, per_host_delay_ms: 0 };

/** A host answering 429/503 with Retry-After is left alone this long at most (the transient retry cap). */
export const MAX_HOST_BACKOFF_MS = 60_000;
/** A run that got fewer slots than it wanted on a full host asks again this often. */
export const WAIT_POLL_MS = 500;

/**
 * The host a job's politeness counts against: the URL's host with its port, lowercased
 * ("example.com", "127.0.0.1:8080"). www.example.com and example.com, or two ports of one address,
 * are different hosts. Null for a URL that does not parse (such a job is refused by the URL guard).
 */
export function hostOf(url: string): string | null {
  try {
    const host = new URL(url).host.toLowerCase();
    return host === "" ? null : host;
  } catch {
    return null;
  }
}

/**
 * Per-host counts are records keyed by host (plain objects: RPC cannot carry any other), and any
 * host is a key: "constructor" and "__proto__" are hosts too (URL hosts are lower-cased, so no other
 * name of Object.prototype is one). They are written as own properties (setOn: an assignment to
 * `__proto__` would set the prototype and lose the key) and read by own keys only (countOn: an
 * inherited `constructor` is not a count).
 */
export function setOn(r: Record<string, number>, host: string, n: number): void {
  Object.defineProperty(r, host, { value: n, writable: true, enumerable: true, configurable: true });
}

/** A per-host record of `entries`, any host name included. */
export function hostRecord(entries: Iterable<readonly [string, number]> = []): Record<string, number> {
  const r: Record<string, number> = {};
  for (const [host, n] of entries) setOn(r, host, n);
  return r;
}

/** A host's count in a per-host record: 0 when absent. */
export const countOn = (r: Readonly<Record<string, number>>, host: string): number =>
  Object.hasOwn(r, host) ? r[host] : 0;

/**
 * How many jobs may be in flight to a host. With a delay, one: the gap between two starts is
 * measured from the moment the previous request's slot came back (its outcome was recorded, so it
 * had started), which is the only instant the service learns without a call per request start.
 * Two requests released together could otherwise start closer than the delay whatever their
 * release times, because queue delivery takes a variable time.
 */
export const hostLimit = (p: Politeness) => (p.per_host_delay_ms > 0 ? 1 : p.per_host_concurrency);

/** What the gate knows of one host when a run asks for it. */
export interface HostView {
  /** Jobs in flight to the host, all runs of the tenant, this one's included. */
  in_flight: number;
  /** This run's share of in_flight. */
  held: number;
  /** Other runs of the tenant that recently asked for the host and got less than they wanted. */
  other_waiters: number;
  /** No start before this: the previous slot's return plus the delay. */
  next_start_ms: number;
  /** No start before this: a 429/503 with Retry-After. */
  backoff_until_ms: number;
}

/**
 * How many more jobs a run may start on a host now (at most `want`), and when to ask again if it
 * gets fewer than it wants. Invariants: in_flight + n never passes the run's limit; nothing starts
 * before next_start_ms or backoff_until_ms; when other runs wait for the host, a run holds at most
 * its equal share, so one busy run cannot keep every slot by returning and retaking them in one call.
 * A run held back only by its own jobs in flight is not told to ask again: recording their outcomes
 * (or its alarm reaping their leases) asks anyway. Held back by other runs' jobs, it polls.
 */
export function grantOnHost(
  h: HostView,
  want: number,
  p: Politeness,
  nowMs: number,
): { n: number; again_at: number | null } {
  if (want <= 0) return { n: 0, again_at: null };
  const notBefore = Math.max(h.next_start_ms, h.backoff_until_ms);
  if (nowMs < notBefore) return { n: 0, again_at: notBefore };
  const limit = hostLimit(p);
  const share = Math.ceil(limit / (h.other_waiters + 1));
  const free = Math.max(0, Math.min(limit - h.in_flight, share - h.held));
  const n = Math.min(want, free);
  return { n, again_at: n < want && h.in_flight > h.held ? nowMs + WAIT_POLL_MS : null };
}

/**
 * Shares `room` jobs among hosts that may start `avail[host]` each: every host gets an equal part,
 * what a host cannot use goes to the others (water-filling), so a host with one slot does not cost
 * the run's other hosts their speed. Hosts keep their order for the remainder of an uneven split.
 */
export function spread(avail: [string, number][], room: number): Map<string, number> {
  const out = new Map<string, number>();
  let left = Math.max(0, room);
  let open = avail.filter(([, n]) => n > 0).map(([h, n]) => ({ h, n }));
  while (left > 0 && open.length > 0) {
    const each = Math.max(1, Math.floor(left / open.length));
    for (const o of open) {
      if (left === 0) break;
      const take = Math.min(each, o.n, left);
      out.set(o.h, (out.get(o.h) ?? 0) + take);
      o.n -= take;
      left -= take;
    }
    open = open.filter((o) => o.n > 0);
  }
  return out;
}
