/**
 * The parsed page every extractor reads: a domhandler tree (the node model css-select and
 * dom-serializer work on) built by htmlparser2, a tolerant parser that closes what HTML implies
 * (paragraphs, items, cells, unclosed tags at their parent's end) and ignores stray end tags. It
 * was chosen over parse5's standard tree construction by measurement (bench/extract-measurements.md):
 * under half the heap per MB of HTML — so a page at the 10 MB cap fits a Worker's 128 MB — and
 * 17–60 % of the CPU, for the same Markdown on 129 of 130 real pages.
 */
import type { AnyNode, ChildNode, Document, Element, ParentNode } from "domhandler";
import { parseDocument } from "htmlparser2";

export type { AnyNode, ChildNode, Document, Element, ParentNode };

export function parseHtml(html: string): Document {
  const doc = parseDocument(html, { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true });
  limitDepth(doc);
  return doc;
}

/**
 * Elements nested deeper than this are unwrapped into their text, so that every walk over the
 * tree stays far from the stack limit whatever a page nests (10,000 unclosed <div>s parse into a
 * tree 10,000 deep). Browsers cap it too: Blink's parser stops nesting at 512.
 */
export const MAX_TREE_DEPTH = 512;
/** Not content, so not worth keeping as text when unwrapped. */
const INERT = new Set(["script", "style", "noscript", "template", "svg", "math", "textarea", "select"]);

function limitDepth(doc: Document): void {
  const stack: [ParentNode, number][] = [[doc, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth >= MAX_TREE_DEPTH) {
      flatten(node);
      continue;
    }
    for (const child of node.children) if (isElement(child)) stack.push([child, depth + 1]);
  }
}

function flatten(parent: ParentNode): void {
  const kept: ChildNode[] = [];
  const pending: ChildNode[] = [...parent.children].reverse();
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (isText(node)) kept.push(node);
    else if (isElement(node) && !INERT.has(node.name)) {
      if (node.children.length === 0) kept.push(node);
      else for (let i = node.children.length - 1; i >= 0; i--) pending.push(node.children[i]);
    }
  }
  parent.children = kept;
  kept.forEach((node, i) => {
    node.parent = parent;
    node.prev = kept[i - 1] ?? null;
    node.next = kept[i + 1] ?? null;
  });
}

export const isElement = (node: AnyNode): node is Element =>
  node.type === "tag" || node.type === "script" || node.type === "style";
export const isText = (node: AnyNode): node is Extract<AnyNode, { type: "text" }> => node.type === "text";

export function attr(el: Element, name: string): string | null {
  const value = el.attribs[name];
  return value === undefined ? null : value;
}

/**
 * Not rendered by a browser: `hidden` (but not `until-found`, whose text a reader can reach),
 * display or visibility none, aria-hidden.
 */
export function isHidden(el: Element): boolean {
  const a = el.attribs;
  if (a.hidden !== undefined && a.hidden.toLowerCase() !== "until-found") return true;
  if (a["aria-hidden"]?.trim().toLowerCase() === "true") return true;
  const style = a.style;
  return (
    style !== undefined &&
    /(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\s*(?:!important\s*)?(?:;|$)/i.test(style)
  );
}

/** First element of `root`'s subtree (depth first, document order) that satisfies `test`. */
export function findElement(root: ParentNode, test: (el: Element) => boolean): Element | null {
  const stack: ChildNode[] = [...root.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (!isElement(node)) continue;
    if (test(node)) return node;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
  }
  return null;
}

/** Every element of `root`'s subtree in document order; `descend` false prunes an element's subtree. */
export function forEachElement(root: ParentNode, visit: (el: Element) => boolean | undefined): void {
  const stack: ChildNode[] = [...root.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (!isElement(node)) continue;
    if (visit(node) === false) continue;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]);
  }
}

const ASCII_WS = /[\t\n\f\r ]+/g;
/** HTML's whitespace collapsing; NBSP, soft hyphens and zero-width characters read as a space or nothing. */
export function collapseWhitespace(s: string): string {
  if (INVISIBLE.test(s)) s = s.replace(/[\u00ad\u200b\u2060\ufeff]/g, "").replace(/\u00a0/g, " ");
  return s.replace(ASCII_WS, " ");
}
const INVISIBLE = /[\u00a0\u00ad\u200b\u2060\ufeff]/;

/** Concatenated text of a subtree, as the DOM's textContent (comments excluded). */
export function textContent(node: AnyNode): string {
  if (isText(node)) return node.data;
  if (!("children" in node)) return "";
  let out = "";
  for (const child of node.children) out += textContent(child);
  return out;
}

/**
 * The URL relative references resolve against: the first `<base href>` (itself resolved against
 * the page's URL, as browsers do), else the page's URL.
 */
export function documentBase(doc: Document, pageUrl: string): string {
  const base = findElement(doc, (el) => el.name === "base" && el.attribs.href !== undefined);
  if (base) {
    const resolved = resolveUrl(base.attribs.href, pageUrl);
    if (resolved) return resolved;
  }
  return pageUrl;
}

/** Absolute form of a reference, or null when it does not parse. */
export function resolveUrl(ref: string, base: string): string | null {
  try {
    return new URL(ref.trim(), base).href;
  } catch {
    return null;
  }
}

export const isHttpUrl = (url: string) => url.startsWith("http://") || url.startsWith("https://");
