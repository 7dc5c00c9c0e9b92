/** capText: what a job keeps of a long final_url or error (LIMITS.maxFinalUrlBytes, maxErrorBytes). */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { capText, keptText } from "../../src/fetchers/outcome";

const bytes = (s: string) => new TextEncoder().encode(s).byteLength;

describe("capText", () => {
  const cases: [name: string, input: string, max: number, expected: string][] = [
    ["empty", "", 10, ""],
    ["fits exactly", "a".repeat(40), 40, "a".repeat(40)],
    // The marker "… [truncated from 41 bytes]" takes 29 bytes ("…" is 3), leaving 11.
    ["one byte over", "a".repeat(41), 40, `${"a".repeat(11)}… [truncated from 41 bytes]`],
    // 'é' is 2 bytes: 20 of them are 40 bytes and fit; 21 do not.
    ["two-byte characters that fit", "é".repeat(20), 40, "é".repeat(20)],
    // 11 bytes of room: five 'é' (10 bytes), not half of a sixth; two 4-byte emoji, not part of a third.
    ["a cut never splits a character", "é".repeat(21), 40, `${"é".repeat(5)}… [truncated from 42 bytes]`],
    ["a cut never splits a surrogate pair", "😀".repeat(20), 40, `${"😀".repeat(2)}… [truncated from 80 bytes]`],
  ];
  for (const [name, input, max, expected] of cases) {
    it(name, () => {
      const out = capText(input, max);
      expect(out).toBe(expected);
      expect(bytes(out)).toBeLessThanOrEqual(max);
    });
  }
});

describe("keptText", () => {
  it("caps final_url and error at their limits and leaves null alone", () => {
    const url = `https://example.com/?${"q".repeat(100 * 1024)}`;
    const kept = keptText({ final_url: url, error: "x".repeat(10_000) });
    expect(bytes(kept.final_url!)).toBeLessThanOrEqual(LIMITS.maxFinalUrlBytes);
    expect(kept.final_url).toMatch(/^https:\/\/example\.com\/\?q+… \[truncated from 102421 bytes\]$/);
    expect(bytes(kept.error!)).toBeLessThanOrEqual(LIMITS.maxErrorBytes);
    expect(keptText({ final_url: null, error: null })).toEqual({ final_url: null, error: null });
    const short = { final_url: "https://example.com/", error: "short" };
    expect(keptText(short)).toEqual(short);
  });
});
