/**
 * What "only the main content" keeps: the page's <main> (or role=main), else its <article>s, else
 * the densest block of prose; and inside it, never the page chrome — navigation, complementary
 * asides, footers, the page-level header, cookie and consent banners, dialogs.
 */
import {
  type Document,
  type Element,
  type ParentNode,
  findElement,
  forEachElement,
  isElement,
  isHidden,
  isText,
  textContent,
} from "./dom";

export interface MainContent {
  root: ParentNode;
  exclude: (el: Element) => boolean;
}

const CHROME = new Set(["nav", "aside", "footer"]);
const CHROME_ROLES = new Set("navigation complementary contentinfo banner dialog alertdialog search".split(" "));
/** A header is the page's banner only outside sectioning content (HTML-ARIA); an article's header holds its title. */
const SECTIONING = new Set(["article", "aside", "main", "nav", "section"]);
/** Consent-manager markers seen in ids and classes (generic words and the common vendors' prefixes). */
const CONSENT = new RegExp(
  "cookie|consent|gdpr|ccpa|onetrust|didomi|usercentrics|truste|cmpbox|qc-cmp|sp_message|" +
    "(?:^|[-_\\s])banner(?:$|[-_\\s])",
  "i",
);
/**
 * A banner class never takes away what holds the page's title or its main content, nor a block
 * longer than any consent notice (a wrapper classed "cookie-banner-shown" holds the whole page).
 */
const PROTECTED = new Set(["main", "article", "h1", "body", "html"]);
const MAX_BANNER_CHARS = 10_000;
/** Containers the densest-block search may descend into; a paragraph or list is content, not a container. */
const CONTAINERS = new Set("body div section article main center form table tbody tr td span font".split(" "));
/**
 * Blocks whose id or class says they are comments, sharing widgets, related links and the like:
 * their prose does not count when looking for the densest block (a long comment thread outweighs
 * a photo essay), though a container chosen for other reasons still shows them.
 */
const UNLIKELY = new RegExp(
  "comment|disqus|replies|respond|related|share|social|sponsor|advert|promo|breadcrumb|pagination|pager|sidebar|" +
    "popup|newsletter",
  "i",
);
const LIKELY = /article|content|main|story|entry|body|column|text-body/i;
/** Share of its parent's prose a child needs for the search to narrow to it. */
const DOMINANT_SHARE = 0.6;

export function mainContent(doc: Document): MainContent {
  const body = findElement(doc, (el) => el.name === "body") ?? doc;
  const protectedCache = new WeakMap<Element, boolean>();
  const chromeCache = new WeakMap<Element, boolean>();
  const isChrome = (el: Element): boolean => {
    let known = chromeCache.get(el);
    if (known === undefined) {
      known = chrome(el, protectedCache);
      chromeCache.set(el, known);
    }
    return known;
  };

  const root = pickRoot(body, isChrome);
  const keep = new Set<Element>();
  for (let node: ParentNode | null = root; node && isElement(node); node = node.parent) keep.add(node);
  return { root, exclude: (el) => !keep.has(el) && isChrome(el) };
}

function chrome(el: Element, protectedCache: WeakMap<Element, boolean>): boolean {
  const role = el.attribs.role?.trim().toLowerCase();
  if (CHROME.has(el.name) || (role !== undefined && CHROME_ROLES.has(role)) || el.name === "dialog") return true;
  if (el.attribs["aria-modal"] === "true") return true;
  if (el.name === "header" && !hasAncestor(el, SECTIONING)) return true;
  const marks = `${el.attribs.id ?? ""} ${el.attribs.class ?? ""}`;
  return (
    CONSENT.test(marks) && !holdsProtected(el, protectedCache) && visibleLength(textContent(el)) <= MAX_BANNER_CHARS
  );
}

function pickRoot(body: ParentNode, isChrome: (el: Element) => boolean): ParentNode {
  const mains: Element[] = [];
  const articles: Element[] = [];
  forEachElement(body, (el) => {
    if (isHidden(el) || el.name === "template") return false;
    if (el.name === "main" || el.attribs.role?.trim().toLowerCase() === "main") {
      mains.push(el);
      return false;
    }
    if (el.name === "article" && !insideChrome(el, body, isChrome)) articles.push(el);
  });
  const prose = proseLengths(body, isChrome);
  const withText = (list: Element[]) => list.filter((el) => (prose.get(el) ?? 0) > 0);
  const main = withText(mains).sort((a, b) => prose.get(b)! - prose.get(a)!)[0];
  if (main) return main;
  const arts = withText(articles);
  if (arts.length > 0) return commonAncestor(arts);
  return densest(body, prose);
}

function insideChrome(el: Element, stop: ParentNode, isChrome: (el: Element) => boolean): boolean {
  for (let node = el.parent; node && node !== stop && isElement(node); node = node.parent)
    if (isChrome(node)) return true;
  return false;
}

/**
 * Characters of prose (text outside links, not whitespace) under each element, chrome left out:
 * a sidebar of links or a menu weighs nothing, a column of paragraphs weighs what it says.
 */
function proseLengths(body: ParentNode, isChrome: (el: Element) => boolean): Map<ParentNode, number> {
  const lengths = new Map<ParentNode, number>();
  const measure = (node: ParentNode, inLink: boolean): number => {
    let total = 0;
    for (const child of node.children) {
      if (isText(child)) {
        if (!inLink) total += visibleLength(child.data);
      } else if (
        isElement(child) &&
        !SKIPPED_IN_MEASURE.has(child.name) &&
        !isHidden(child) &&
        !isChrome(child) &&
        !unlikely(child)
      ) {
        total += measure(child, inLink || child.name === "a");
      }
    }
    lengths.set(node, total);
    return total;
  };
  measure(body, false);
  return lengths;
}
const SKIPPED_IN_MEASURE = new Set("script style noscript template svg head select textarea button".split(" "));

function unlikely(el: Element): boolean {
  const marks = `${el.attribs.id ?? ""} ${el.attribs.class ?? ""}`;
  return marks.length > 1 && UNLIKELY.test(marks) && !LIKELY.test(marks);
}

function visibleLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 32 && c !== 160) n++;
  }
  return n;
}

/** Narrows from the body to the smallest container that still holds most of the page's prose. */
function densest(body: ParentNode, prose: Map<ParentNode, number>): ParentNode {
  let node = body;
  for (;;) {
    const total = prose.get(node) ?? 0;
    if (total === 0) return node;
    let next: Element | null = null;
    for (const child of node.children) {
      if (
        isElement(child) &&
        (CONTAINERS.has(child.name) || child.name.includes("-")) &&
        (prose.get(child) ?? 0) >= total * DOMINANT_SHARE
      )
        next = child;
    }
    if (!next) return node;
    node = next;
  }
}

function commonAncestor(elements: Element[]): ParentNode {
  const chain = (el: ParentNode) => {
    const out: ParentNode[] = [];
    for (let n: ParentNode | null = el; n; n = n.parent) out.unshift(n);
    return out;
  };
  let common = chain(elements[0]);
  for (const el of elements.slice(1)) {
    const other = chain(el);
    let i = 0;
    while (i < common.length && i < other.length && common[i] === other[i]) i++;
    common = common.slice(0, i);
  }
  return common[common.length - 1];
}

function hasAncestor(el: Element, names: Set<string>): boolean {
  for (let n = el.parent; n && isElement(n); n = n.parent) if (names.has(n.name)) return true;
  return false;
}

function holdsProtected(el: Element, cache: WeakMap<Element, boolean>): boolean {
  let known = cache.get(el);
  if (known === undefined) {
    known = PROTECTED.has(el.name) || el.children.some((c) => isElement(c) && holdsProtected(c, cache));
    cache.set(el, known);
  }
  return known;
}
