/** job.completed coalescing: one delivery per recorded batch, at most 100 jobs each, every job in exactly one. */
import { describe, expect, it } from "vitest";
import { coalesceJobs } from "../../src/webhooks/batches";

const jobs = (ms: number, from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ seq: from + i, completed_ms: ms }));

describe("coalesceJobs", () => {
  it.each<[string, { seq: number; completed_ms: number }[], [number, number, number, number][]]>([
    ["nothing ended: no delivery", [], []],
    ["one batch: one delivery", jobs(10, 0, 25), [[10, 0, 24, 25]]],
    [
      "two batches: two deliveries",
      [...jobs(10, 0, 3), ...jobs(11, 3, 2)],
      [
        [10, 0, 2, 3],
        [11, 3, 4, 2],
      ],
    ],
    [
      "a batch's seqs need not be contiguous",
      [
        { seq: 7, completed_ms: 5 },
        { seq: 2_000, completed_ms: 5 },
      ],
      [[5, 7, 2_000, 2]],
    ],
    [
      "250 at one instant (a cancel): 100, 100, 50",
      jobs(9, 0, 250),
      [
        [9, 0, 99, 100],
        [9, 100, 199, 100],
        [9, 200, 249, 50],
      ],
    ],
    ["exactly 100: one", jobs(9, 0, 100), [[9, 0, 99, 100]]],
  ])("%s", (_name, ended, expected) => {
    const out = coalesceJobs(ended);
    expect(out.map((b) => [b.jobs_ms, b.seq_from, b.seq_to, b.count])).toEqual(expected);
    expect(out.reduce((n, b) => n + b.count, 0)).toBe(ended.length);
  });
});
