/**
 * `extract`: named values picked from the page by CSS selectors (css-select, the engine cheerio
 * uses), and the check that refuses a selector before a job is ever created with it.
 */
import { compile, selectAll, selectOne } from "css-select";
import { type Selector, parse as parseSelector } from "css-what";
import renderHtml from "dom-serializer";
import { type Page, toDocument } from "./content";
import { type AnyNode, type Element, documentBase, resolveUrl, textContent } from "./dom";
import { render } from "./render";

export interface ExtractField {
  selector: string;
  /** "text" (default), "html" (the element's outer HTML) or the name of an attribute. */
  attribute?: string;
  /** Every match in page order instead of the first. */
  all?: boolean;
}
export type ExtractFields = Record<string, ExtractField>;
export type Extracted = Record<string, string | null | string[]>;

/**
 * `{name: value}` per field: the first match's value, or null when nothing matches or the first
 * match lacks the attribute; with `all`, the values of every match that has one, in page order
 * (`[]` when none). A matched element with no text gives "".
 * - "text": its text as text() renders it (block boundaries become line breaks, whitespace
 *   collapsed), hidden descendants included since they were asked for; a <script>, <style>,
 *   <template>, <noscript> or <textarea> gives its raw content (JSON-LD, for instance).
 * - "html": its outer HTML.
 * - an attribute: its value; URL-valued attributes (href, src, srcset, action, formaction, poster,
 *   cite, data, background) are made absolute against the page (after `<base href>`) so the values
 *   mean the same thing away from it; an unparseable URL is returned as written.
 */
export function extract(page: Page, baseUrl: string, fields: ExtractFields): Extracted {
  const doc = toDocument(page);
  const base = documentBase(doc, baseUrl);
  const out: Extracted = {};
  for (const [name, field] of Object.entries(fields)) {
    // compile() types its result over every node; it only ever accepts elements.
    const query = compile<AnyNode, Element>(field.selector, SELECT_OPTIONS) as (el: Element) => boolean;
    const attribute = (field.attribute ?? "text").toLowerCase();
    const value = (el: Element) => elementValue(el, attribute, base);
    if (field.all) {
      out[name] = selectAll<AnyNode, Element>(query, doc, SELECT_OPTIONS)
        .map(value)
        .filter((v): v is string => v !== null);
    } else {
      const first = selectOne<AnyNode, Element>(query, doc, SELECT_OPTIONS);
      out[name] = first ? value(first) : null;
    }
  }
  return out;
}

/** As a browser's querySelector: a selector may not start with a combinator. */
const SELECT_OPTIONS = { relativeSelector: false } as const;

const RAW_TEXT = new Set(["script", "style", "template", "noscript", "textarea"]);
const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "poster", "cite", "data", "background"]);

function elementValue(el: Element, attribute: string, base: string): string | null {
  if (attribute === "text") {
    if (RAW_TEXT.has(el.name)) return textContent(el).trim();
    // An item's own marker is not part of its text.
    return render(el.name === "li" ? el.children : [el], { mode: "text", base, dropHidden: false }, "extraction");
  }
  if (attribute === "html") return renderHtml(el, { encodeEntities: "utf8" });
  const raw = el.attribs[attribute];
  if (raw === undefined) return null;
  if (attribute === "srcset") return absoluteSrcset(raw, base);
  return URL_ATTRIBUTES.has(attribute) ? (resolveUrl(raw, base) ?? raw) : raw;
}

function absoluteSrcset(srcset: string, base: string): string {
  return srcset
    .split(",")
    .map((candidate) => {
      const [url, ...descriptor] = candidate.trim().split(/\s+/);
      if (!url) return "";
      return [resolveUrl(url, base) ?? url, ...descriptor].join(" ");
    })
    .filter(Boolean)
    .join(", ");
}

// ── Selector validation ──────────────────────────────────────────────────────────────────────

/** Pseudo-classes about a live browser (pointer, focus, history, the URL's fragment): no fetched page matches them. */
const STATEFUL = new Set(
  (
    "hover active focus focus-within focus-visible visited target target-within current past future playing " +
    "paused fullscreen autofill user-invalid user-valid"
  ).split(" "),
);

/**
 * Why a selector cannot be used for extraction, or null when it can: syntax, pseudo-elements and
 * stateful pseudo-classes are refused by name; anything else the engine cannot compile (an
 * unknown pseudo-class) with its message. What passes here compiles in extract().
 */
export function selectorProblem(selector: string): string | null {
  if (selector.length > MAX_SELECTOR_LENGTH) return `a selector is at most ${MAX_SELECTOR_LENGTH} characters`;
  let parsed: Selector[][];
  try {
    parsed = parseSelector(selector);
  } catch (e) {
    return `not a valid CSS selector: ${message(e)}`;
  }
  if (parsed.length === 0) return "not a valid CSS selector: an empty selector";
  const refused = findRefused(parsed);
  if (refused) return refused;
  const compounds = compoundCount(parsed);
  if (compounds > MAX_SELECTOR_COMPOUNDS)
    return (
      `${compounds} compound selectors; a selector has at most ${MAX_SELECTOR_COMPOUNDS} ` +
      "(list entries and :is()/:not()/:has() arguments included)"
    );
  try {
    compile(selector, SELECT_OPTIONS);
  } catch (e) {
    return `unsupported CSS selector: ${message(e)}`;
  }
  return null;
}

/**
 * Caps that bound what one field costs a consumer: matching is about (compound selectors × the
 * page's elements), and every field of every job runs on the consumer's CPU before its outcome is
 * recorded. Compounds are counted across a selector list and inside :is()/:not()/:has()/:where(),
 * so nesting cannot hide them.
 */
export const MAX_SELECTOR_LENGTH = 512;
export const MAX_SELECTOR_COMPOUNDS = 32;

/** Compound selectors (runs of simple selectors between combinators) in a parsed selector, nested ones included. */
export function compoundCount(groups: Selector[][]): number {
  let n = 0;
  for (const group of groups) {
    n += 1;
    for (const [i, token] of group.entries()) {
      // A leading combinator (`:has(> p)`) starts the first compound rather than separating two.
      if (COMBINATORS.has(token.type)) n += i > 0 ? 1 : 0;
      else if (token.type === "pseudo" && Array.isArray(token.data)) n += compoundCount(token.data);
    }
  }
  return n;
}

const COMBINATORS = new Set(["child", "descendant", "sibling", "adjacent", "parent", "column-combinator"]);

function findRefused(groups: Selector[][]): string | null {
  for (const group of groups) {
    if (group.length === 0) return "not a valid CSS selector: an empty selector in the list";
    if (COMBINATORS.has(group[group.length - 1].type)) return "not a valid CSS selector: it ends with a combinator";
    for (const token of group) {
      if (token.type === "pseudo-element") return `pseudo-elements (::${token.name}) select no element`;
      if (token.type === "pseudo") {
        if (STATEFUL.has(token.name))
          return `:${token.name} depends on a live browser's state and never matches a fetched page`;
        if (Array.isArray(token.data)) {
          const inner = findRefused(token.data);
          if (inner) return inner;
        }
      }
    }
  }
  return null;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
