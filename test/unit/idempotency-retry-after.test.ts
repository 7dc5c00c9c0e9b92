/** Retry-After of a 409 while another attempt holds an Idempotency-Key's lease (60 s here). */
import { describe, expect, it } from "vitest";
import { inFlightRetryAfter } from "../../src/do/idempotency";

const LEASE = 60_000;
const T = 1_000_000;

describe("inFlightRetryAfter", () => {
  it.each([
    ["an attempt that just began: retry in a second", 0, 1],
    ["half a second in", 500, 1],
    ["5 s in: wait about as long again", 5_000, 5],
    ["20 s in", 20_000, 20],
    ["40 s in: no retry can run before the lease ends, 20 s later", 40_000, 20],
    ["59.5 s in: the lease ends within the second", 59_500, 1],
  ])("%s", (_what, ageMs, expected) => {
    expect(inFlightRetryAfter(T + ageMs, T + LEASE, LEASE)).toBe(expected);
  });
});
