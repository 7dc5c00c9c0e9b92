import { describe, expect, it } from "vitest";
import { grantOnHost, type HostView, hostLimit, hostOf, spread, WAIT_POLL_MS } from "../../src/do/host-policy";

const NOW = 1_000_000;
const view = (v: Partial<HostView> = {}): HostView => ({
  in_flight: 0,
  held: 0,
  other_waiters: 0,
  next_start_ms: 0,
  backoff_until_ms: 0,
  ...v,
});
const p = (per_host_concurrency: number, per_host_delay_ms = 0) => ({ per_host_concurrency, per_host_delay_ms });

describe("hostOf", () => {
  it.each([
    ["https://Example.COM/a?b", "example.com"],
    ["http://127.0.0.1:8080/x", "127.0.0.1:8080"],
    ["https://www.example.com/", "www.example.com"],
    ["https://example.com:443/", "example.com"],
    ["http://[::1]:81/", "[::1]:81"],
    ["not a url", null],
  ])("%s → %s", (url, host) => expect(hostOf(url)).toBe(host));
});

describe("hostLimit", () => {
  it.each([
    [p(6), 6],
    [p(50), 50],
    [p(6, 1), 1],
    [p(1, 0), 1],
  ])("%j → %i", (pol, n) => expect(hostLimit(pol)).toBe(n));
});

describe("grantOnHost", () => {
  it.each<[string, HostView, number, ReturnType<typeof p>, { n: number; again_at: number | null }]>([
    ["nothing wanted", view(), 0, p(6), { n: 0, again_at: null }],
    ["free host: all it wants", view(), 4, p(6), { n: 4, again_at: null }],
    ["up to the limit", view({ in_flight: 4 }), 5, p(6), { n: 2, again_at: NOW + WAIT_POLL_MS }],
    [
      "full of its own jobs: their outcomes wake it",
      view({ in_flight: 6, held: 6 }),
      3,
      p(6),
      { n: 0, again_at: null },
    ],
    ["full, partly other runs' jobs", view({ in_flight: 6, held: 4 }), 3, p(6), { n: 0, again_at: NOW + WAIT_POLL_MS }],
    ["full by other runs", view({ in_flight: 2 }), 1, p(2), { n: 0, again_at: NOW + WAIT_POLL_MS }],
    [
      "over the limit (a lower limit than another run's)",
      view({ in_flight: 5 }),
      1,
      p(2),
      { n: 0, again_at: NOW + WAIT_POLL_MS },
    ],
    ["backoff", view({ backoff_until_ms: NOW + 2_000 }), 3, p(6), { n: 0, again_at: NOW + 2_000 }],
    ["backoff over", view({ backoff_until_ms: NOW }), 3, p(6), { n: 3, again_at: null }],
    ["delay not over", view({ next_start_ms: NOW + 300 }), 1, p(6, 500), { n: 0, again_at: NOW + 300 }],
    ["delay over: one at a time", view({ next_start_ms: NOW - 1 }), 1, p(6, 500), { n: 1, again_at: null }],
    ["delay: one in flight already", view({ in_flight: 1 }), 1, p(6, 500), { n: 0, again_at: NOW + WAIT_POLL_MS }],
    [
      "later of delay and backoff",
      view({ next_start_ms: NOW + 5, backoff_until_ms: NOW + 9 }),
      1,
      p(6),
      { n: 0, again_at: NOW + 9 },
    ],
    ["one waiter: equal share", view({ in_flight: 0, other_waiters: 1 }), 6, p(6), { n: 3, again_at: null }],
    ["one waiter, share held", view({ in_flight: 3, held: 3, other_waiters: 1 }), 2, p(6), { n: 0, again_at: null }],
    ["two waiters, odd limit", view({ in_flight: 1, held: 1, other_waiters: 2 }), 5, p(5), { n: 1, again_at: null }],
    [
      "waiter, limit 2: one each",
      view({ in_flight: 1, held: 0, other_waiters: 1 }),
      2,
      p(2),
      { n: 1, again_at: NOW + WAIT_POLL_MS },
    ],
  ])("%s", (_name, h, want, pol, expected) => expect(grantOnHost(h, want, pol, NOW)).toEqual(expected));

  it("never lets the host's jobs in flight pass the limit", () => {
    for (let limit = 1; limit <= 8; limit++)
      for (let inFlight = 0; inFlight <= 10; inFlight++)
        for (let held = 0; held <= inFlight; held++)
          for (let waiters = 0; waiters <= 3; waiters++) {
            const h = view({ in_flight: inFlight, held, other_waiters: waiters });
            const { n } = grantOnHost(h, 20, p(limit), NOW);
            expect(n).toBeGreaterThanOrEqual(0);
            if (n > 0) expect(inFlight + n).toBeLessThanOrEqual(limit);
          }
  });
});

describe("spread", () => {
  it.each<[string, [string, number][], number, Record<string, number>]>([
    ["no room", [["a", 3]], 0, {}],
    [
      "room for all",
      [
        ["a", 3],
        ["b", 2],
      ],
      10,
      { a: 3, b: 2 },
    ],
    [
      "equal parts",
      [
        ["a", 10],
        ["b", 10],
      ],
      6,
      { a: 3, b: 3 },
    ],
    [
      "what one host cannot use goes to the others",
      [
        ["a", 1],
        ["b", 10],
        ["c", 10],
      ],
      9,
      { a: 1, b: 4, c: 4 },
    ],
    [
      "uneven remainder in order",
      [
        ["a", 10],
        ["b", 10],
      ],
      3,
      { a: 2, b: 1 },
    ],
    [
      "hosts with nothing get nothing",
      [
        ["a", 0],
        ["b", 5],
      ],
      3,
      { b: 3 },
    ],
    [
      "more hosts than room",
      [
        ["a", 5],
        ["b", 5],
        ["c", 5],
      ],
      2,
      { a: 1, b: 1 },
    ],
  ])("%s", (_name, avail, room, expected) => {
    const out = spread(avail, room);
    expect(Object.fromEntries(out)).toEqual(expected);
    const total = [...out.values()].reduce((x, y) => x + y, 0);
    expect(total).toBeLessThanOrEqual(room);
  });
});
