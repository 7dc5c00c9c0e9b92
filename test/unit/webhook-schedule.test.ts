/** The webhook retry schedule: when a failed delivery is tried again, and when it is out of time. */
import { describe, expect, it } from "vitest";
import {
  delaySecondsUntil,
  MAX_QUEUE_DELAY_S,
  nextAttemptAt,
  RETRY_DELAYS_S,
  RETRY_WINDOW_MS,
} from "../../src/webhooks/schedule";

const T0 = 1_800_000_000_000;
const S = 1000;

describe("nextAttemptAt", () => {
  it.each<[string, number, number, number, number | null]>([
    // [case, ms since the first attempt of the last one, failed attempts, random, expected delay in s]
    ["after the first failure: 30 s", 0, 1, 0.5, 30],
    ["then 2 min", 30 * S, 2, 0.5, 120],
    ["then 10 min", 150 * S, 3, 0.5, 600],
    ["then 1 h", 750 * S, 4, 0.5, 3_600],
    ["then 3 h", 4_350 * S, 5, 0.5, 10_800],
    ["then 6 h", 15_150 * S, 6, 0.5, 21_600],
    ["then 12 h", 36_750 * S, 7, 0.5, 43_200],
    ["12 h repeats, cut to end at 24 h after the first", 79_950 * S, 8, 0.5, 86_400 - 79_950],
    ["jitter at its low end: -20 %", 0, 1, 0, 24],
    ["jitter at its high end: +20 %", 0, 1, 0.999_999, 36],
    ["12 h with +20 % stays within the 12 h a queue can delay", 0, 7, 0.999_999, 43_200],
    ["never sooner than a second", 86_399_500, 8, 0.5, 0.5],
    ["at 24 h: out of time", 86_400 * S, 9, 0.5, null],
    ["past 24 h: out of time", 90_000 * S, 9, 0.5, null],
  ])("%s", (_name, sinceFirst, attempts, random, expected) => {
    const last = T0 + sinceFirst;
    const at = nextAttemptAt(T0, last, attempts, random);
    expect(at === null ? null : (at - last) / S).toBe(expected);
  });

  it("every attempt after the first is within the 24 h window, and the nominal schedule uses all of it", () => {
    let last = T0;
    const delays: number[] = [];
    for (let attempts = 1; ; attempts++) {
      const at = nextAttemptAt(T0, last, attempts, 0.5);
      if (at === null) break;
      expect(at).toBeLessThanOrEqual(T0 + RETRY_WINDOW_MS);
      delays.push((at - last) / S);
      last = at;
    }
    expect(delays.slice(0, RETRY_DELAYS_S.length)).toEqual([...RETRY_DELAYS_S]);
    expect(last).toBe(T0 + RETRY_WINDOW_MS);
    // 1 first attempt + 7 scheduled + the one at 24 h.
    expect(delays.length + 1).toBe(9);
  });
});

describe("delaySecondsUntil", () => {
  it.each<[string, number, number]>([
    ["whole seconds, rounded up so the message is never early", 1_500, 2],
    ["at least a second (0 would mean no delay)", -5_000, 1],
    ["at most the queue's 12 h", 13 * 3_600_000, MAX_QUEUE_DELAY_S],
  ])("%s", (_name, ahead, expected) => {
    expect(delaySecondsUntil(T0 + ahead, T0)).toBe(expected);
  });
});
