/** The retry schedule README documents: 1 s · 2^(attempt-1) ± 50 %, Retry-After honoured, 60 s cap. */
import { describe, expect, it } from "vitest";
import { backoffSeconds } from "../../src/queue/consume";

const sample = (attempt: number, retryAfter: number | null) =>
  Array.from({ length: 500 }, () => backoffSeconds(attempt, retryAfter));

describe("backoffSeconds", () => {
  it("grows exponentially with jitter around 1 s, 2 s, 4 s …", () => {
    for (const [attempt, base] of [
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 8],
    ] as const) {
      const s = sample(attempt, null);
      expect(Math.min(...s)).toBeGreaterThanOrEqual(Math.max(1, Math.round(base * 0.5)));
      expect(Math.max(...s)).toBeLessThanOrEqual(Math.round(base * 1.5));
      if (base >= 4) expect(new Set(s).size).toBeGreaterThan(1); // jittered, not fixed
    }
  });

  it("waits at least Retry-After, never past the 60 s cap", () => {
    expect(Math.min(...sample(1, 30))).toBe(30);
    expect(Math.max(...sample(1, 3600))).toBe(60);
    expect(Math.max(...sample(10, null))).toBe(60);
  });
});
