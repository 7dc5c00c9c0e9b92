/** The page as Markdown or as plain text, whole or only its main content. */
import { type Document, documentBase, findElement, isElement, parseHtml } from "./dom";
import { mainContent } from "./main-content";
import { type Mode, render } from "./render";

export interface ContentOptions {
  /** Leave out header, navigation, footer, asides, cookie banners and dialogs (API.md `only_main_content`). */
  onlyMainContent?: boolean;
}

/** A page given as its HTML, or already parsed by parseHtml() when several results are made from it. */
export type Page = string | Document;

export const toDocument = (page: Page): Document => (typeof page === "string" ? parseHtml(page) : page);

/**
 * GitHub-flavoured Markdown of the page: ATX headings, paragraphs, nested lists, links and images
 * with absolute URLs (after `<base href>`), emphasis, code spans, fenced code blocks with their
 * language, tables, nested blockquotes, hard line breaks and rules; what a browser would not show
 * (scripts, styles, templates, SVG, comments, hidden elements) is left out. Ends with a newline
 * unless empty.
 */
export function markdown(page: Page, baseUrl: string, options: ContentOptions = {}): string {
  return content(page, baseUrl, options, "markdown");
}

/**
 * The page's readable text: a blank line between blocks, list items on their own lines under
 * "-" or their number (nested ones indented), a table row per line with tab-separated cells, no
 * markup and no URLs.
 */
export function text(page: Page, baseUrl: string, options: ContentOptions = {}): string {
  return content(page, baseUrl, options, "text");
}

function content(page: Page, baseUrl: string, options: ContentOptions, mode: Mode): string {
  const doc = toDocument(page);
  const base = documentBase(doc, baseUrl);
  let out: string;
  if (options.onlyMainContent) {
    const main = mainContent(doc);
    const nodes = isElement(main.root) ? [main.root] : main.root.children;
    out = render(nodes, { mode, base, dropHidden: true, exclude: main.exclude });
  } else {
    const body = findElement(doc, (el) => el.name === "body");
    out = render(body ? [body] : doc.children, { mode, base, dropHidden: true });
  }
  return out ? `${out}\n` : "";
}
