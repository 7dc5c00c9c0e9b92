/** A page's metadata from its head: title, description, language, canonical URL, favicon, Open Graph. */
import { type Page, toDocument } from "./content";
import {
  type Element,
  attr,
  collapseWhitespace,
  documentBase,
  forEachElement,
  isHttpUrl,
  resolveUrl,
  textContent,
} from "./dom";

export interface Metadata {
  title: string | null;
  description: string | null;
  language: string | null;
  canonical_url: string | null;
  favicon: string | null;
  og: {
    title: string | null;
    description: string | null;
    image: string | null;
    type: string | null;
    site_name: string | null;
  };
}

/**
 * Each field from the first element that gives it a non-empty value, null where none does; text
 * with its whitespace collapsed, URLs absolute (after `<base href>`) and http(s) only. The page's
 * own `<title>` (an SVG's title is not the page's); `og:*` from `<meta property>`, or `<meta name>`
 * as many pages write it; favicon from `<link rel~=icon>`, apple-touch-icon only when there is none.
 */
export function metadata(page: Page, baseUrl: string): Metadata {
  const doc = toDocument(page);
  const base = documentBase(doc, baseUrl);
  let title: string | null = null;
  let language: string | null = null;
  let canonical: string | null = null;
  let icon: string | null = null;
  let touchIcon: string | null = null;
  const meta = new Map<string, string>();
  const url = (ref: string | null) => {
    const resolved = ref === null ? null : resolveUrl(ref, base);
    return resolved !== null && isHttpUrl(resolved) ? resolved : null;
  };
  forEachElement(doc, (el: Element) => {
    switch (el.name) {
      case "svg":
      case "math":
      case "template":
        return false;
      case "html":
        language = clean(attr(el, "lang"));
        return;
      case "title":
        title ??= clean(textContent(el));
        return false;
      case "meta": {
        const key = (attr(el, "property") ?? attr(el, "name") ?? attr(el, "http-equiv"))?.trim().toLowerCase();
        const value = clean(attr(el, "content"));
        if (key && value !== null && !meta.has(key)) meta.set(key, value);
        return;
      }
      case "link": {
        const rel = (attr(el, "rel") ?? "").toLowerCase().split(/\s+/);
        const href = attr(el, "href");
        if (rel.includes("canonical")) canonical ??= url(href);
        if (rel.includes("icon")) icon ??= url(href);
        if (rel.includes("apple-touch-icon")) touchIcon ??= url(href);
        return;
      }
    }
  });
  const get = (key: string) => meta.get(key) ?? null;
  return {
    title,
    description: get("description"),
    language: language ?? get("content-language"),
    canonical_url: canonical,
    favicon: icon ?? touchIcon,
    og: {
      title: get("og:title"),
      description: get("og:description"),
      image: url(get("og:image") ?? get("og:image:url") ?? get("og:image:secure_url")),
      type: get("og:type"),
      site_name: get("og:site_name"),
    },
  };
}

function clean(value: string | null): string | null {
  if (value === null) return null;
  const text = collapseWhitespace(value).trim();
  return text || null;
}
