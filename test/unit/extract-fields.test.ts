import { describe, expect, it } from "vitest";
import { type ExtractField, extract, selectorProblem } from "../../src/extract";
import { fixture } from "./extract-fixtures";

const PRODUCT_URL = "https://example.com/products/kettle";
const one = (field: ExtractField) => extract(fixture("extract.html"), PRODUCT_URL, { v: field }).v;

describe("extract", () => {
  it.each<[string, ExtractField, string | null | string[]]>([
    ["text, whitespace collapsed", { selector: "h1.title" }, "Electric Kettle"],
    ["text includes aria-hidden parts (they are on screen)", { selector: ".price" }, "$29.99"],
    [
      "text of blocks keeps their breaks",
      { selector: ".description" },
      "Boils 1.7 l in three minutes.\n\n- Auto shut-off\n- Cordless",
    ],
    ["text of a table: rows and tab-separated cells", { selector: ".specs" }, "Power\t2200 W\nColour\tSteel & black"],
    [
      "raw content of a script (JSON-LD)",
      { selector: "script[type='application/ld+json']" },
      `{"@type": "Product", "name": "Kettle"}`,
    ],
    ["an element with no text gives an empty string", { selector: "span.empty" }, ""],
    ["outer html", { selector: ".description p", attribute: "html" }, "<p>Boils <b>1.7 l</b> in three minutes.</p>"],
    [
      "html re-escapes what the parser decoded",
      { selector: ".specs tr:last-child td", attribute: "html" },
      "<td>Steel &amp; black</td>",
    ],
    [
      "src made absolute against <base href>",
      { selector: "img.photo", attribute: "src" },
      "https://example.com/shop/img/kettle.jpg",
    ],
    ["href made absolute", { selector: "a.manual", attribute: "href" }, "https://example.com/shop/docs/manual.pdf"],
    [
      "srcset candidates made absolute",
      { selector: "img.photo", attribute: "srcset" },
      "https://example.com/shop/img/kettle-2x.jpg 2x, https://example.com/cdn/kettle-3x.jpg 3x",
    ],
    ["javascript: href as written", { selector: "a.support", attribute: "href" }, "javascript:openChat()"],
    ["a non-URL attribute as written", { selector: "meta[property='og:image']", attribute: "content" }, "img/og.jpg"],
    ["attribute names are case-insensitive", { selector: "img.photo", attribute: "ALT" }, "A kettle"],
    ["data attribute", { selector: "article", attribute: "data-sku" }, "K-100"],
    ["first match only", { selector: ".review p" }, "Great kettle."],
    ["first match lacks the attribute: null", { selector: ".review:nth-child(2)", attribute: "data-stars" }, null],
    ["no match: null", { selector: ".nope" }, null],
    ["all: every match in page order", { selector: ".tags li", all: true }, ["kitchen", "electric", ""]],
    [
      "all: matches without the attribute are skipped",
      { selector: ".review", attribute: "data-stars", all: true },
      ["5", "3"],
    ],
    ["all, no match: []", { selector: ".nope", all: true }, []],
    [":has() and :contains()", { selector: ".specs tr:has(th:contains(Colour)) td" }, "Steel & black"],
  ])("%s", (_, field, expected) => {
    expect(one(field)).toEqual(expected);
  });

  it("every field of a request at once, by name", () => {
    expect(
      extract(fixture("extract.html"), PRODUCT_URL, {
        title: { selector: "h1" },
        photos: { selector: "img", attribute: "src", all: true },
        none: { selector: "video" },
      }),
    ).toEqual({ title: "Electric Kettle", photos: ["https://example.com/shop/img/kettle.jpg"], none: null });
  });
});

describe("selectorProblem", () => {
  it.each([
    "h1",
    "div.a#b > p + p ~ span",
    "a[href^='https://'][rel~=nofollow i]",
    "ul li:nth-child(2n+1)",
    "li:nth-last-of-type(1)",
    "p:not(.x, .y)",
    "article:has(> h2)",
    ":is(h1, h2) a",
    "p:where(.x)",
    "td:empty",
    "input:checked",
    "a:contains(Next)",
    "a:icontains(next)",
    "p:first-child",
    "h1, h2, h3",
    "*",
    "[data-x='a,b']",
    "option:selected",
    ":root > body",
    "a:any-link",
    "p:lang(en)",
  ])("accepts %j", (selector) => {
    expect(selectorProblem(selector)).toBeNull();
  });

  it.each([
    ["", /empty selector/],
    ["   ", /empty selector|not a valid/],
    ["div >", /ends with a combinator/],
    ["h1,", /not a valid|empty selector/],
    ["a,,b", /not a valid|empty selector/],
    ["> p", /Relative selectors/],
    ["p[", /not a valid/],
    ["p:nth-child(", /not a valid/],
    ["#", /not a valid/],
    ["a:hover", /:hover depends on a live browser/],
    ["a:focus-visible", /:focus-visible depends on a live browser/],
    ["a:visited", /:visited depends on a live browser/],
    ["li:not(:active)", /:active depends on a live browser/],
    ["section:target", /:target depends on a live browser/],
    ["p::before", /pseudo-elements \(::before\)/],
    ["p::first-line", /pseudo-elements/],
    ["a:unknown-pseudo", /Unknown pseudo-class :unknown-pseudo/],
    ["svg|rect", /Namespaced/],
  ])("refuses %j", (selector, message) => {
    expect(selectorProblem(selector)).toMatch(message);
  });

  it("what it accepts, extract() runs", () => {
    const html = "<div><p class=a>x</p></div>";
    for (const selector of ["p.a", "div > p", ":is(p)"]) {
      expect(selectorProblem(selector)).toBeNull();
      expect(extract(html, "https://example.com/", { v: { selector } }).v).toBe("x");
    }
  });
});
