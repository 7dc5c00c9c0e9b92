import { describe, expect, it } from "vitest";
import { markdown, parseHtml, text } from "../../src/extract";
import { MAX_TREE_DEPTH } from "../../src/extract/dom";
import { decodeHtml } from "../../src/fetchers/http";
import latin1Page from "../fixtures/extract/latin1.html?url&inline";
import { fixture, PAGE_URL } from "./extract-fixtures";

describe("markdown: one page per construct group against its golden file", () => {
  it.each([
    ["headings", "headings, paragraphs, emphasis, entities, inline code, <br>, <hr>, markup-like text escaped"],
    ["lists", "nested ordered/unordered lists, start, multi-paragraph items, list nested directly in a list, dl"],
    ["links-images", "links and images absolute against <base href>, lazy images, link-wrapped blocks"],
    ["code", "fenced code with the language from language-/lang-/highlight-source-, backticks inside, <br> in pre"],
    ["tables", "GitHub tables: header row, escaped pipes, colspan/rowspan, no-header table, layout tables"],
    ["blockquotes", "nested blockquotes holding lists and code"],
    ["hidden", "script, style, noscript, template, svg, comments, hidden/aria-hidden/display:none, form controls"],
    [
      "broken",
      "unclosed tags closed where HTML implies, stray end tags ignored, misnested <b><i> keeps its text " +
        "(the part after </b> loses its italics, which a browser would keep)",
    ],
    ["main-content", "the whole page, chrome included, when only_main_content is off"],
    ["no-main", "a table-less old layout without main or article"],
  ])("%s (%s)", (name) => {
    expect(markdown(fixture(`${name}.html`), PAGE_URL)).toBe(fixture(`${name}.md`));
  });
});

describe("text: paragraph breaks, no markup", () => {
  it.each([["headings"], ["lists"], ["tables"], ["main-content"]])("%s", (name) => {
    expect(text(fixture(`${name}.html`), PAGE_URL)).toBe(fixture(`${name}.txt`));
  });
});

describe("onlyMainContent", () => {
  it.each([
    [
      "main-content",
      "<main> kept with its article's header; nav, page header, asides, footers, cookie banner, dialogs left out",
    ],
    ["no-main", "no <main>/<article>: the densest block of prose, without the menus, the GDPR notice and the sidebar"],
  ])("%s: %s", (name) => {
    expect(markdown(fixture(`${name}.html`), PAGE_URL, { onlyMainContent: true })).toBe(fixture(`${name}.main.md`));
    expect(text(fixture(`${name}.html`), PAGE_URL, { onlyMainContent: true })).toBe(fixture(`${name}.main.txt`));
  });

  it.each([
    [
      "several articles keep their common container",
      `<body><nav><a href="/">Home</a></nav><div id="list">
      <article><h2>One</h2><p>First post.</p></article><article><h2>Two</h2><p>Second post.</p></article></div>
      <footer>Footer</footer></body>`,
      "## One\n\nFirst post.\n\n## Two\n\nSecond post.\n",
    ],
    ["a fragment without <body>", "<nav><a href=/>Home</a></nav><h1>Title</h1><p>Text.</p>", "# Title\n\nText.\n"],
    [
      "role=main counts as main",
      `<div role="banner">Site</div><div role="main"><p>Body text.</p></div>
      <div role="contentinfo">Legal</div>`,
      "Body text.\n",
    ],
    [
      "a consent class on a wrapper holding the page does not remove the page",
      `<body><div class="cookie-consent-shown"><header>Site</header><h1>Title</h1><p>Content.</p></div></body>`,
      "# Title\n\nContent.\n",
    ],
    [
      "an OneTrust banner and a modal are left out",
      `<div id="onetrust-banner-sdk"><p>We value your privacy</p></div>
      <main><p>Story.</p><div class="modal" role="dialog"><p>Sign up</p></div></main>`,
      "Story.\n",
    ],
  ])("%s", (_, html, expected) => {
    expect(markdown(html, PAGE_URL, { onlyMainContent: true })).toBe(expected);
  });
});

describe("pages the fetcher decoded from another charset", () => {
  const bytes = Uint8Array.from(atob(latin1Page.slice(latin1Page.indexOf(",") + 1)), (c) => c.charCodeAt(0));

  it.each([
    ["text/html; charset=windows-1252", "charset in the content-type"],
    ["text/html", "charset only in the page's <meta http-equiv>"],
    ["text/html; charset=iso-8859-1", "latin-1 label (decoded as windows-1252, as browsers do)"],
  ])("%s (%s)", (contentType) => {
    expect(markdown(decodeHtml(bytes, contentType), PAGE_URL)).toBe(fixture("latin1.md"));
  });

  it("the fixture really is windows-1252: as UTF-8 its accents are lost", () => {
    expect(markdown(new TextDecoder("utf-8").decode(bytes), PAGE_URL)).not.toBe(fixture("latin1.md"));
  });
});

describe("edge cases", () => {
  it.each([
    ["empty input", "", ""],
    ["only whitespace and hidden content", "<p>  </p><div hidden>x</div><script>y</script>", ""],
    ["text outside any element", "just text", "just text\n"],
    [
      "a data: image is left out, its link named by its alt",
      `<a href="/p"><img src="data:image/png;base64,AAAA" alt="x"></a>`,
      "[x](https://example.com/p)\n",
    ],
    ["javascript: image sources are not URLs", `<img src="javascript:alert(1)" alt="x">`, ""],
    ["two breaks make a paragraph break", "<p>a<br><br>b<br></p>", "a\n\nb\n"],
    ["nested emphasis is not doubled", "<b>x <strong>y</strong></b>", "**x y**\n"],
    ["emphasis around only spaces leaves the spaces", "a<b> </b>b", "a b\n"],
    [
      "ordered list starting past 1 after a list item's text",
      "<ul><li>a<ol start=3><li>c</li></ol></li></ul>",
      "- a\n\n  3. c\n",
    ],
    [
      "an image title of brackets is escaped",
      `<img src="/i.png" alt="[x]">`,
      "![\\[x\\]](https://example.com/i.png)\n",
    ],
    ["<q> gets quotes", "<p>He said <q>hi</q>.</p>", `He said "hi".\n`],
    [
      "text written straight in a table comes before it, as a browser shows it",
      "<table>stray<tr><td>a</td><td>b</td></tr></table>",
      "stray\n\n| a | b |\n| --- | --- |\n",
    ],
    ["cells without a row still make one", "<table><th>a</th><th>b</th></table>", "| a | b |\n| --- | --- |\n"],
    [
      "an inline element swallowing a paragraph keeps its start in the paragraph before",
      "<p>one <em>two<p>three</em>",
      "one *two*\n\n*three*\n",
    ],
  ])("%s", (_, html, expected) => {
    expect(markdown(html, PAGE_URL)).toBe(expected);
  });

  it("a page nested deeper than the tree cap converts instead of overflowing the stack", () => {
    const depth = 20_000;
    const html = `${"<div>".repeat(depth)}<p>deep <b>text</b></p>${"</div>".repeat(depth)}<p>after</p>`;
    expect(markdown(html, PAGE_URL)).toBe("deep text\n\nafter\n");
    let max = 0;
    const walk = (node: { children?: unknown[] }, d: number) => {
      max = Math.max(max, d);
      for (const child of (node.children ?? []) as { children?: unknown[] }[]) walk(child, d + 1);
    };
    walk(parseHtml(html), 0);
    expect(max).toBeLessThanOrEqual(MAX_TREE_DEPTH + 1);
  });

  it("a parsed page gives the same results as its HTML (one parse for several formats)", () => {
    const html = fixture("lists.html");
    const doc = parseHtml(html);
    expect(markdown(doc, PAGE_URL)).toBe(fixture("lists.md"));
    expect(text(doc, PAGE_URL)).toBe(fixture("lists.txt"));
    expect(markdown(doc, PAGE_URL)).toBe(fixture("lists.md"));
  });
});
