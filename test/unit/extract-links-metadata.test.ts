import { describe, expect, it } from "vitest";
import { extract, links, makeResults, markdown, metadata, text } from "../../src/extract";
import { fixture, PAGE_URL } from "./extract-fixtures";

const json = (name: string) => JSON.parse(fixture(name));

describe("links", () => {
  it.each([
    [
      "links-images",
      'relative to <base href="/docs/v2/">; fragment-only, javascript:, href-less and empty hrefs dropped',
    ],
    [
      "metadata",
      "absolute <base href>; de-duplicated at the first occurrence; mailto:, tel:, ftp:, data: dropped; " +
        "text from an image's alt; <area>; hidden links kept; template links not",
    ],
  ])("%s: %s", (name) => {
    expect(links(fixture(`${name}.html`), PAGE_URL)).toEqual(json(`${name}.links.json`));
  });

  it.each([
    [
      "relative to the page without <base>",
      `<a href="b.html">B</a>`,
      [{ url: "https://example.com/guide/b.html", text: "B" }],
    ],
    [
      "the first non-empty text wins for a repeated URL",
      `<a href="/x"><img src="i.png"></a><a href="/x">Named</a>`,
      [{ url: "https://example.com/x", text: "Named" }],
    ],
    [
      "an unparseable href is skipped",
      `<a href="http://exa mple.com/">bad</a><a href="/ok">ok</a>`,
      [{ url: "https://example.com/ok", text: "ok" }],
    ],
    ["no links", "<p>none</p>", []],
  ])("%s", (_, html, expected) => {
    expect(links(html, PAGE_URL)).toEqual(expected);
  });
});

describe("metadata", () => {
  it("reads every field, URLs absolute against <base href>", () => {
    expect(metadata(fixture("metadata.html"), PAGE_URL)).toEqual(json("metadata.metadata.json"));
  });

  it("nulls where a page has nothing", () => {
    expect(metadata("<p>bare</p>", PAGE_URL)).toEqual({
      title: null,
      description: null,
      language: null,
      canonical_url: null,
      favicon: null,
      og: { title: null, description: null, image: null, type: null, site_name: null },
    });
  });

  it.each([
    [
      "relative URLs resolve against the page",
      `<link rel="canonical" href="../c"><link rel="icon" href="f.ico">`,
      { canonical_url: "https://example.com/c", favicon: "https://example.com/guide/f.ico" },
    ],
    [
      "apple-touch-icon only without an icon",
      `<link rel="apple-touch-icon" href="/t.png">`,
      { favicon: "https://example.com/t.png" },
    ],
    [
      "Content-Language when <html> has no lang",
      `<meta http-equiv="content-language" content="fr">`,
      { language: "fr" },
    ],
    [
      "an empty title or description is null",
      "<title>  </title><meta name=description content=''>",
      { title: null, description: null },
    ],
    ["a javascript: canonical is not a URL", `<link rel="canonical" href="javascript:x()">`, { canonical_url: null }],
  ])("%s", (_, html, expected) => {
    expect(metadata(html, PAGE_URL)).toMatchObject(expected);
  });
});

describe("makeResults", () => {
  it("makes exactly the requested results from one parse, equal to the single functions' results", () => {
    const html = fixture("main-content.html");
    const fields = { title: { selector: "h1" } };
    expect(
      makeResults(html, PAGE_URL, { formats: ["markdown", "links"], only_main_content: true, extract: fields }),
    ).toEqual({
      markdown: markdown(html, PAGE_URL, { onlyMainContent: true }),
      links: links(html, PAGE_URL),
      extracted: extract(html, PAGE_URL, fields),
    });
    expect(makeResults(html, PAGE_URL, { formats: ["html", "text", "metadata"] })).toEqual({
      text: text(html, PAGE_URL),
      metadata: metadata(html, PAGE_URL),
    });
    expect(makeResults(html, PAGE_URL, { formats: ["html"], extract: {} })).toEqual({});
  });
});
