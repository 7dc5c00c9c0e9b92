/** Every link of a page, for crawling: absolute http(s) URLs in page order, each once. */
import { type Page, toDocument } from "./content";
import {
  attr,
  collapseWhitespace,
  documentBase,
  forEachElement,
  isElement,
  isHttpUrl,
  resolveUrl,
  type ChildNode,
} from "./dom";

export interface Link {
  url: string;
  text: string;
}

/**
 * `<a href>` and `<area href>` anywhere in the page (hidden ones too: they are still links), not
 * inside templates. Kept: http and https only (mailto:, tel:, javascript: and data: lead to no
 * page); dropped: links to a fragment of the page itself (`href="#…"`, or empty). De-duplicated by
 * absolute URL, fragment included, at the first occurrence; its text is the first non-empty text
 * any occurrence has (link text, else aria-label, title or an image's alt).
 */
export function links(page: Page, baseUrl: string): Link[] {
  const doc = toDocument(page);
  const base = documentBase(doc, baseUrl);
  const byUrl = new Map<string, Link>();
  forEachElement(doc, (el) => {
    if (el.name === "template") return false;
    if (el.name !== "a" && el.name !== "area") return;
    const href = attr(el, "href")?.trim();
    if (!href || href.startsWith("#")) return;
    const url = resolveUrl(href, base);
    if (url === null || !isHttpUrl(url)) return;
    const text =
      linkText(el.children) ||
      collapseWhitespace(attr(el, "aria-label") ?? attr(el, "title") ?? "").trim() ||
      collapseWhitespace(attr(el, "alt") ?? "").trim();
    const seen = byUrl.get(url);
    if (!seen) byUrl.set(url, { url, text });
    else if (!seen.text) seen.text = text;
  });
  return [...byUrl.values()];
}

function linkText(nodes: readonly ChildNode[]): string {
  let out = "";
  const walk = (list: readonly ChildNode[]) => {
    for (const node of list) {
      if (node.type === "text") out += node.data;
      else if (isElement(node) && node.name !== "script" && node.name !== "style" && node.name !== "template") {
        if (node.name === "img" && !out.trim()) out += ` ${attr(node, "alt") ?? ""} `;
        else walk(node.children);
      }
    }
  };
  walk(nodes);
  return collapseWhitespace(out).trim();
}
