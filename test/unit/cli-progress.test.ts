import { describe, expect, it } from "vitest";
import { duration, ProgressMeter, renderBar, renderLine } from "../../client/progress";

const counters = (total: number, success: number, failed = 0, timeout = 0) => ({
  total_requests: total,
  success_requests: success,
  failed_requests: failed,
  timeout_requests: timeout,
});

describe("duration", () => {
  const cases: [number | null, string][] = [
    [null, "?"],
    [Number.POSITIVE_INFINITY, "?"],
    [0, "0:00"],
    [0.2, "0:01"],
    [75, "1:15"],
    [3725, "1:02:05"],
  ];
  for (const [s, want] of cases) it(`${s} → ${want}`, () => expect(duration(s)).toBe(want));
});

describe("ProgressMeter", () => {
  it("has no rate or ETA from one sample, then measures over the window", () => {
    const m = new ProgressMeter(1000);
    expect(m.snapshot(counters(1000, 0), 0)).toMatchObject({ done: 0, rate: null, etaSeconds: null });
    const p = m.snapshot(counters(1000, 90, 8, 2), 2_000);
    expect(p).toMatchObject({ done: 100, success: 90, failed: 8, timeout: 2, rate: 50, etaSeconds: 18 });
  });

  it("forgets samples older than the window, so a stall shows", () => {
    const m = new ProgressMeter(1000);
    m.snapshot(counters(1000, 0), 0);
    m.snapshot(counters(1000, 500), 5_000);
    m.snapshot(counters(1000, 500), 16_000);
    const p = m.snapshot(counters(1000, 500), 26_000);
    expect(p.rate).toBe(0);
    expect(p.etaSeconds).toBeNull();
  });

  it("says 0 left when done", () => {
    const m = new ProgressMeter(10);
    m.snapshot(counters(10, 0), 0);
    expect(m.snapshot(counters(10, 7, 3), 1_000).etaSeconds).toBe(0);
  });
});

describe("rendering", () => {
  const p = { done: 512, total: 1000, success: 500, failed: 10, timeout: 2, rate: 38.24, etaSeconds: 12.8 };
  it("draws the bar with counters, rate and ETA", () =>
    expect(renderBar(p, 10)).toBe("[█████░░░░░] 512/1000  51%  ✓ 500  ✗ 10  ⏱ 2  38.2 jobs/s  ETA 0:13"));
  it("writes a plain line for logs", () =>
    expect(renderLine(p)).toBe("progress 512/1000 (51%) success=500 failed=10 timeout=2 rate=38.2/s eta=0:13"));
  it("an empty run is complete", () =>
    expect(renderBar({ ...p, done: 0, total: 0, rate: null, etaSeconds: 0 }, 4)).toMatch(/^\[████\] 0\/0 100%/));
});
