/** The sweep's operation budget: what it lets through, what it holds back, and how a share draws on it. */
import { describe, expect, it } from "vitest";
import { Budget } from "../../src/storage/budget";

const takes = (b: Budget, n: number, keep = 0) => Array.from({ length: n }, () => b.take(keep));

describe("Budget", () => {
  it.each([
    { limit: 3, keep: 0, tries: 5, granted: [true, true, true, false, false], left: 0 },
    { limit: 3, keep: 1, tries: 4, granted: [true, true, false, false], left: 1 },
    { limit: 3, keep: 3, tries: 2, granted: [false, false], left: 3 },
    { limit: 0, keep: 0, tries: 1, granted: [false], left: 0 },
  ])("limit $limit keeping $keep grants $granted", ({ limit, keep, tries, granted, left }) => {
    const b = new Budget(limit);
    expect(takes(b, tries, keep)).toEqual(granted);
    expect([b.used, b.left]).toEqual([granted.filter(Boolean).length, left]);
  });

  it("a share spends from its parent and stops at whichever runs out first", () => {
    const parent = new Budget(10);
    const share = parent.share(4);
    expect(takes(share, 6)).toEqual([true, true, true, true, false, false]);
    expect([share.used, parent.used, parent.left]).toEqual([4, 4, 6]);
    const big = parent.share(100);
    expect(takes(big, 7).filter(Boolean).length).toBe(6);
    expect([parent.used, parent.left, big.left]).toEqual([10, 0, 0]);
  });

  it("a share of a share charges every level", () => {
    const root = new Budget(5);
    const leaf = root.share(3).share(2);
    expect(takes(leaf, 3)).toEqual([true, true, false]);
    expect([root.used, root.left]).toEqual([2, 3]);
  });
});
