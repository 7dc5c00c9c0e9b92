import { describe, expect, it } from "vitest";
import { parse } from "css-what";
import {
  capKeptResults,
  extractNamesOverflow,
  jsonBytes,
  type KeptResults,
  MAX_EXTRACT_NAMES_PER_COLLECTION,
  type Metadata,
  ResultOptions,
} from "../../src/extract";
import { compoundCount, MAX_SELECTOR_COMPOUNDS, MAX_SELECTOR_LENGTH } from "../../src/extract/fields";

const issues = (input: unknown) => {
  const r = ResultOptions.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
};

describe("request fields", () => {
  it("defaults: html only, whole page, no extraction", () => {
    expect(ResultOptions.parse({})).toEqual({ formats: ["html"], only_main_content: false });
  });

  it("fills each extract field's defaults", () => {
    expect(
      ResultOptions.parse({
        formats: ["markdown", "metadata"],
        only_main_content: true,
        extract: { t: { selector: "h1" } },
      }),
    ).toEqual({
      formats: ["markdown", "metadata"],
      only_main_content: true,
      extract: { t: { selector: "h1", attribute: "text", all: false } },
    });
  });

  it.each<[unknown, string]>([
    [{ formats: [] }, "no format but extraction is a valid request"],
    [{ formats: ["html", "markdown", "text", "links", "metadata"] }, "every format"],
    [{ extract: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, { selector: "p" }])) }, "50 fields"],
    [
      {
        extract: { ["a".repeat(64)]: { selector: "p" }, "A-z_0-9": { selector: "p", attribute: "data-x", all: true } },
      },
      "names at the limits",
    ],
  ])("accepts %j (%s)", (input, _why) => {
    expect(issues(input)).toEqual([]);
  });

  it.each<[unknown, string, RegExp]>([
    [{ formats: ["pdf"] }, "formats.0", /expected one of/i],
    [{ formats: ["html", "html"] }, "formats", /must not repeat/],
    [{ formats: "markdown" }, "formats", /expected array/i],
    [{ only_main_content: "yes" }, "only_main_content", /expected boolean/i],
    [{ extract: { title: { selector: "h1:hover" } } }, "extract.title.selector", /:hover depends on a live browser/],
    [{ extract: { title: { selector: "h1[" } } }, "extract.title.selector", /not a valid CSS selector/],
    [{ extract: { title: { selector: "" } } }, "extract.title.selector", /too small|at least/i],
    [{ extract: { title: { selector: "h1", attribute: "bad name" } } }, "extract.title.attribute", /attribute name/],
    [{ extract: { title: { selector: "h1", all: "yes" } } }, "extract.title.all", /expected boolean/i],
    [{ extract: { title: { selector: "h1", extra: 1 } } }, "extract.title", /unrecognized key/i],
    [{ extract: { "bad name": { selector: "h1" } } }, "extract.bad name", /field names are 1-64/],
    [{ extract: { ["a".repeat(65)]: { selector: "h1" } } }, `extract.${"a".repeat(65)}`, /field names are 1-64/],
    [
      { extract: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`f${i}`, { selector: "p" }])) },
      "extract",
      /at most 50/,
    ],
  ])("refuses %j at %s", (input, path, message) => {
    const found = issues(input);
    expect(found.map((i) => i.path)).toContain(path);
    expect(found.find((i) => i.path === path)!.message).toMatch(message);
  });
});

describe("selector caps", () => {
  it.each<[string, number]>([
    ["p", 1],
    ["article > h1.title", 2],
    ["main p a[href]", 3],
    ["h1, h2, h3", 3],
    ["li:not(.ad, .promo) a", 4],
    ["div:has(> p:is(.a, .b .c))", 5],
    ["a ~ b + c", 3],
  ])("counts the compounds of %j as %i", (selector, n) => {
    expect(compoundCount(parse(selector))).toBe(n);
  });

  const selectorIssue = (selector: string) => issues({ extract: { f: { selector } } });
  const list = (n: number) => Array.from({ length: n }, (_, i) => `p.c${i}`).join(", ");
  const long = (n: number) => `p${".x".repeat((n - 1) / 2)}`;

  it.each<[string, string, RegExp | null]>([
    [list(MAX_SELECTOR_COMPOUNDS), "a list at the compound cap", null],
    [list(MAX_SELECTOR_COMPOUNDS + 1), "one compound over", /33 compound selectors; a selector has at most 32/],
    [`p:not(${list(MAX_SELECTOR_COMPOUNDS)})`, "compounds nested in :not()", /33 compound selectors/],
    [long(MAX_SELECTOR_LENGTH - 1), "one under the length cap", null],
    [`${long(MAX_SELECTOR_LENGTH - 1)}y`, "at the length cap", null],
    [`${long(MAX_SELECTOR_LENGTH - 1)}yy`, "one character over", /at most 512 characters/],
  ])("%s (%s)", (selector, _why, problem) => {
    const found = selectorIssue(selector);
    if (problem === null) expect(found).toEqual([]);
    else expect(found).toEqual([{ path: "extract.f.selector", message: expect.stringMatching(problem) }]);
  });
});

describe("distinct extract names per collection", () => {
  const fields = (names: string[]) => ({ extract: Object.fromEntries(names.map((n) => [n, {}])) });
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => `f${from + i}`);

  it.each<[string, { extract?: Record<string, unknown> }[], { index: number; name: string } | null]>([
    ["none", [{}, {}], null],
    ["the same names repeated", [fields(range(0, 50)), fields(range(0, 50)), fields(range(0, 50))], null],
    ["exactly the cap", [fields(range(0, 50)), fields(range(50, 50))], null],
    [
      "one past it",
      [fields(range(0, 50)), fields(range(50, 50)), {}, fields(["f3", "f100"])],
      { index: 3, name: "f100" },
    ],
  ])("%s", (_why, requests, overflow) => {
    expect(MAX_EXTRACT_NAMES_PER_COLLECTION).toBe(100);
    expect(extractNamesOverflow(requests)).toEqual(overflow);
  });
});

describe("capKeptResults", () => {
  const meta = (over: Partial<Metadata> = {}): Metadata => ({
    title: "Title",
    description: "Description",
    language: "en",
    canonical_url: "https://example.com/c",
    favicon: "https://example.com/f.ico",
    og: { title: "OG", description: null, image: "https://example.com/og.png", type: "article", site_name: "Site" },
    ...over,
  });

  it("leaves results that fit unchanged", () => {
    const input: KeptResults = { metadata: meta(), extracted: { a: "x", b: ["1", "2"], c: null } };
    expect(capKeptResults(input)).toEqual({ ...input, extract_truncated: false });
    expect(capKeptResults({ metadata: null, extracted: null })).toEqual({
      metadata: null,
      extracted: null,
      extract_truncated: false,
    });
  });

  it("exactly at the cap is not truncated, one byte over is", () => {
    const base = { metadata: null, extracted: { a: "" } };
    const size = jsonBytes(base);
    const fits = { metadata: null, extracted: { a: "x".repeat(1000 - size) } };
    expect(jsonBytes(fits)).toBe(1000);
    expect(capKeptResults(fits, 1000).extract_truncated).toBe(false);
    expect(capKeptResults({ metadata: null, extracted: { a: "x".repeat(1001 - size) } }, 1000)).toEqual({
      metadata: null,
      extracted: { a: "x".repeat(1000 - size) },
      extract_truncated: true,
    });
  });

  it("cuts values in order (metadata, then each field, a list item by item) and keeps the JSON within the cap", () => {
    const input: KeptResults = {
      metadata: meta({ description: "d".repeat(20_000) }),
      extracted: {
        body: "b".repeat(40_000),
        items: Array.from({ length: 1000 }, (_, i) => `item ${i}`),
        late: "never fits",
      },
    };
    const out = capKeptResults(input);
    expect(out.extract_truncated).toBe(true);
    expect(jsonBytes({ metadata: out.metadata, extracted: out.extracted })).toBeLessThanOrEqual(64 * 1024);
    expect(out.metadata).toEqual(input.metadata);
    expect(out.extracted!.body).toBe(input.extracted!.body);
    const items = out.extracted!.items as string[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.length).toBeLessThan(1000);
    expect(items.slice(0, -1)).toEqual((input.extracted!.items as string[]).slice(0, items.length - 1));
    expect(out.extracted!.late).toBeNull();
    // The budget is spent to the last few bytes, not abandoned at the first value too large.
    expect(jsonBytes({ metadata: out.metadata, extracted: out.extracted })).toBeGreaterThan(64 * 1024 - 16);
  });

  it("a URL that does not fit whole is null rather than cut, and what follows it stays empty", () => {
    const input = {
      metadata: meta({ title: "t".repeat(100), canonical_url: `https://example.com/${"p".repeat(500)}` }),
      extracted: { a: "x" },
    };
    const out = capKeptResults(input, 500);
    expect(out.metadata).toEqual({
      ...input.metadata,
      canonical_url: null,
      favicon: null,
      og: { title: null, description: null, image: null, type: null, site_name: null },
    });
    expect(out.extracted).toEqual({ a: null });
    expect(jsonBytes({ metadata: out.metadata, extracted: out.extracted })).toBeLessThanOrEqual(500);
  });

  it("counts UTF-8 bytes and never splits a character", () => {
    const out = capKeptResults({ metadata: null, extracted: { e: "😀".repeat(10_000), a: 'é"\\\n'.repeat(10_000) } });
    expect(jsonBytes({ metadata: null, extracted: out.extracted })).toBeLessThanOrEqual(64 * 1024);
    const e = out.extracted!.e as string;
    expect(e).toBe("😀".repeat(e.length / 2));
    expect(new TextEncoder().encode(JSON.stringify({ metadata: null, extracted: out.extracted })).length).toBe(
      jsonBytes({ metadata: null, extracted: out.extracted }),
    );
  });
});
