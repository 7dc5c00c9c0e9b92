import { describe, expect, it } from "vitest";
import { type MarkdownAt, markdownReads } from "../../src/storage/bodies";

const at = (body_key: string | null, markdown_offset: number | null, markdown_length: number | null): MarkdownAt => ({
  body_key,
  markdown_offset,
  markdown_length,
});
const KB = 1024;

describe("markdownReads: the R2 GETs for a page of jobs' kept Markdown", () => {
  it.each<[string, MarkdownAt[], { key: string; offset: number; length: number; jobs: number[] }[]]>([
    ["no job with Markdown", [at(null, null, null), at("p1", null, null), at("p1", 10, 0)], []],
    ["one job", [at("p1", 100, 50)], [{ key: "p1", offset: 100, length: 50, jobs: [0] }]],
    [
      "adjacent jobs of one pack: one GET, whatever their order in the page",
      [at("p1", 150, 30), at("p1", 100, 50), at("p1", 180, 20)],
      [{ key: "p1", offset: 100, length: 100, jobs: [1, 0, 2] }],
    ],
    [
      "two packs: one GET each",
      [at("p1", 0, 10), at("p2", 0, 10), at("p1", 10, 10), at("p2", 10, 5)],
      [
        { key: "p1", offset: 0, length: 20, jobs: [0, 2] },
        { key: "p2", offset: 0, length: 15, jobs: [1, 3] },
      ],
    ],
    [
      "a gap of 256 KB is read through; one byte more splits",
      [at("p1", 0, 10), at("p1", 10 + 256 * KB, 10), at("p1", 20 + 512 * KB + 1, 10)],
      [
        { key: "p1", offset: 0, length: 20 + 256 * KB, jobs: [0, 1] },
        { key: "p1", offset: 20 + 512 * KB + 1, length: 10, jobs: [2] },
      ],
    ],
    [
      "a GET holds at most 16 MB",
      [at("p1", 0, 10 * KB * KB), at("p1", 10 * KB * KB, 6 * KB * KB), at("p1", 16 * KB * KB, 1)],
      [
        { key: "p1", offset: 0, length: 16 * KB * KB, jobs: [0, 1] },
        { key: "p1", offset: 16 * KB * KB, length: 1, jobs: [2] },
      ],
    ],
  ])("%s", (_why, jobs, reads) => {
    expect(markdownReads(jobs)).toEqual(reads);
  });
});
