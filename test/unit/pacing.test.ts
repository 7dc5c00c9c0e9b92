/** The pacing policy: how many jobs a run keeps released, and how long a released job may stay out. */
import { describe, expect, it } from "vitest";
import { initialWindow, leaseMs, nextRate, PACING, windowFor } from "../../src/do/pacing";

describe("windowFor", () => {
  it.each<[string, number, number, number, boolean, number]>([
    ["a new fetch run keeps one batch", 0, 0, 1, false, PACING.minWindow],
    ["a new browser run keeps one browser batch", 0, 0, 1, true, PACING.minBrowserWindow],
    ["fast pages: throughput × (0.1 s in a worker + 2 s queued)", 300, 100, 1, false, 630],
    ["1 s pages at 1,000/s: 3,000 out", 1_000, 1_000, 1, false, 3_000],
    ["hanging pages (20 s, 0.3/s) keep the minimum", 0.3, 20_000, 1, false, PACING.minWindow],
    ["never past the run's maximum", 10_000, 1_000, 1, false, PACING.maxWindow],
    ["a tenant's runs share its window", 10_000, 1_000, 4, false, PACING.tenantWindow / 4],
    ["a share smaller than a batch still bounds the run", 10_000, 1_000, 1_000, false, PACING.tenantWindow / 1_000],
  ])("%s", (_name, rate, serviceMs, tenantRuns, browser, expected) => {
    expect(windowFor(rate, serviceMs, tenantRuns, browser)).toBe(expected);
  });

  it("grows while the window is the limit and settles once the workers are", () => {
    // A pipeline that runs at most 500 jobs/s, 0.2 s each: a window of W gives min(500, W / 0.2 s)
    // jobs/s, so the window rises from one batch to about 500 × 2.2 s and stays.
    let w = initialWindow(1, false);
    let rate: number | null = null;
    for (let step = 0; step < 12; step++) {
      rate = nextRate(rate, Math.min(500, w / 0.2), 1_000);
      w = windowFor(rate, 200, 1, false);
    }
    expect(w).toBeGreaterThan(1_000);
    expect(w).toBeLessThanOrEqual(1_100);
  });
});

describe("leaseMs", () => {
  it("covers every attempt at the job's timeout, the longest backoffs and the queue's slack", () => {
    expect(leaseMs(30_000)).toBe(3 * (30_000 + 60_000) + PACING.leaseSlackMs);
    expect(leaseMs(120_000)).toBeLessThan(15 * 60_000);
  });
});
