/**
 * One renderer for Markdown and plain text: a walk over the parsed tree that turns blocks into
 * paragraphs, headings, lists, code blocks, tables and quotes. Inline content is gathered into
 * runs whose whitespace is collapsed as a browser collapses it; a line break inside a run is the
 * only "\n" a run can hold (all source whitespace became spaces), which is how <br> survives until
 * the run becomes a paragraph.
 */
import {
  type ChildNode,
  type Element,
  attr,
  collapseWhitespace,
  findElement,
  isElement,
  isHidden,
  isHttpUrl,
  isText,
  resolveUrl,
  textContent,
} from "./dom";

export type Mode = "markdown" | "text";

export interface RenderOptions {
  mode: Mode;
  /** Effective base URL (after `<base href>`). */
  base: string;
  /** Drop elements a browser does not show (hidden, aria-hidden, display:none). Off for extraction. */
  dropHidden: boolean;
  /** Extra elements to leave out (boilerplate, when only the main content is wanted). */
  exclude?: (el: Element) => boolean;
}

/** Never part of the readable page: not rendered, or not text. */
const DROPPED = new Set(
  (
    "script style noscript template svg math head title meta link base iframe frame frameset object embed " +
    "canvas video audio source track map area param select datalist textarea input button dialog slot"
  ).split(" "),
);
/** What extraction of an element's text still leaves out: code and inert markup, not form controls. */
const DROPPED_IN_EXTRACTION = new Set(["script", "style", "noscript", "template"]);

const BLOCK = new Set(
  (
    "address article aside blockquote body caption center dd details dir div dl dt fieldset figcaption figure " +
    "footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li listing main menu nav ol optgroup option p " +
    "plaintext pre search section summary table tbody td tfoot th thead tr ul xmp"
  ).split(" "),
);

const HEADING: Record<string, number> = { h1: 1, h2: 2, h3: 3, h4: 4, h5: 5, h6: 6 };

interface Ctx {
  readonly opts: RenderOptions;
  readonly drop: Set<string>;
  /** Inside these inline wrappers already (so nested <b><b> does not double the markers). */
  readonly strong: boolean;
  readonly em: boolean;
  readonly del: boolean;
  readonly link: boolean;
  /** Markers of inline ancestors that held blocks (a link around a card): applied to each paragraph inside. */
  readonly wrap: readonly (readonly [string, string])[];
}

interface Block {
  text: string;
  /** A list that may follow a paragraph line directly (bullets, or numbers from 1): inside an item it stays tight. */
  interrupts: boolean;
}

export function render(nodes: readonly ChildNode[], opts: RenderOptions, dropSet?: "extraction"): string {
  const ctx: Ctx = {
    opts,
    drop: dropSet === "extraction" ? DROPPED_IN_EXTRACTION : DROPPED,
    strong: false,
    em: false,
    del: false,
    link: false,
    wrap: [],
  };
  return joinBlocks(blocks(nodes, ctx), "page");
}

function skipped(el: Element, ctx: Ctx): boolean {
  if (ctx.drop.has(el.name)) return !(el.name === "dialog" && el.attribs.open !== undefined);
  if (ctx.opts.dropHidden && isHidden(el)) return true;
  return ctx.opts.exclude?.(el) ?? false;
}

const blockCache = new WeakMap<Element, boolean>();
/** Whether an inline element holds block content, so it must be laid out as blocks. */
function holdsBlocks(el: Element): boolean {
  let known = blockCache.get(el);
  if (known === undefined) {
    known = false;
    for (const child of el.children) {
      if (isElement(child) && (BLOCK.has(child.name) || holdsBlocks(child))) {
        known = true;
        break;
      }
    }
    blockCache.set(el, known);
  }
  return known;
}

// ── Blocks ───────────────────────────────────────────────────────────────────────────────────

function blocks(nodes: readonly ChildNode[], ctx: Ctx, out: Block[] = []): Block[] {
  let run = "";
  const flush = () => {
    const text = paragraph(run, ctx);
    if (text) out.push({ text, interrupts: false });
    run = "";
  };
  for (const node of nodes) {
    if (isText(node)) {
      run += inlineText(node.data, ctx);
      continue;
    }
    if (!isElement(node) || skipped(node, ctx)) continue;
    if (BLOCK.has(node.name)) {
      flush();
      block(node, ctx, out);
    } else if (holdsBlocks(node)) {
      // Its inline start continues the paragraph it sits in (an unclosed <b> that swallowed the
      // next paragraph); from its first block on, its content is laid out as blocks.
      const first = node.children.findIndex(
        (c) => isElement(c) && !skipped(c, ctx) && (BLOCK.has(c.name) || holdsBlocks(c)),
      );
      run += inline(node, ctx, node.children.slice(0, first));
      flush();
      blocks(node.children.slice(first), promote(node, ctx), out);
    } else {
      run += inline(node, ctx);
    }
  }
  flush();
  return out;
}

/** The context for the blocks inside an inline element: its emphasis or link applies to each paragraph. */
function promote(el: Element, ctx: Ctx): Ctx {
  if (ctx.opts.mode === "text") return ctx;
  const name = el.name;
  if ((name === "strong" || name === "b") && !ctx.strong)
    return { ...ctx, strong: true, wrap: [...ctx.wrap, ["**", "**"]] };
  if (EMPHASIS.has(name) && !ctx.em) return { ...ctx, em: true, wrap: [...ctx.wrap, ["*", "*"]] };
  if (name === "a" && !ctx.link) {
    const href = linkTarget(el, ctx);
    if (href) return { ...ctx, link: true, wrap: [...ctx.wrap, ["[", `](${href})`]] };
  }
  return ctx;
}

function block(el: Element, ctx: Ctx, out: Block[]): void {
  const md = ctx.opts.mode === "markdown";
  const name = el.name;
  const level = HEADING[name];
  if (level !== undefined) {
    let text = oneLine(inlineChildren(el, ctx));
    if (!text) return;
    if (md) {
      text = applyWrap(text.replace(/(\s)(#+)$/, "$1\\$2"), ctx);
      text = `${"#".repeat(level)} ${text}`;
    }
    out.push({ text, interrupts: false });
    return;
  }
  switch (name) {
    case "pre":
    case "listing":
    case "xmp":
    case "plaintext": {
      const text = codeBlock(el, ctx);
      if (text) out.push({ text, interrupts: false });
      return;
    }
    case "hr":
      if (md) out.push({ text: "---", interrupts: false });
      return;
    case "ul":
    case "ol":
    case "menu":
    case "dir": {
      const { text, interrupts } = list(el, ctx);
      if (text) out.push({ text, interrupts });
      return;
    }
    case "li": {
      // An item outside any list still reads as one.
      const text = listItem(el.children, "-", ctx);
      if (text) out.push({ text, interrupts: true });
      return;
    }
    case "blockquote": {
      const inner = joinBlocks(blocks(el.children, ctx), "page");
      if (!inner) return;
      out.push({
        text: md
          ? inner
              .split("\n")
              .map((line) => (line ? `> ${line}` : ">"))
              .join("\n")
          : inner,
        interrupts: false,
      });
      return;
    }
    case "table":
      table(el, ctx, out);
      return;
    case "dt":
      blocks(el.children, md && !ctx.strong ? { ...ctx, strong: true, wrap: [...ctx.wrap, ["**", "**"]] } : ctx, out);
      return;
    default:
      blocks(el.children, ctx, out);
  }
}

/**
 * Blocks are separated by a blank line, except inside a list item, where a nested list follows its
 * item's text on the next line (a blank line there would make the whole list loose), and in plain
 * text, where an item's blocks are its lines.
 */
function joinBlocks(list: Block[], where: "page" | "item" | "text item"): string {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += where === "text item" || (where === "item" && list[i].interrupts) ? "\n" : "\n\n";
    out += list[i].text;
  }
  return out;
}

/**
 * A run of inline content as a paragraph: lines trimmed, a single break a hard line break, two or
 * more (<br><br>) a paragraph break, and in Markdown the characters that would start a block at
 * the start of a line escaped.
 */
function paragraph(run: string, ctx: Ctx): string {
  if (!run) return "";
  const md = ctx.opts.mode === "markdown";
  const paragraphs: string[] = [];
  let lines: string[] = [];
  const end = () => {
    if (lines.length > 0) paragraphs.push(applyWrap(lines.join(md ? "  \n" : "\n"), ctx));
    lines = [];
  };
  for (const raw of run.split("\n")) {
    // Spaces moved out of emphasis and links can meet the text's own: one space, as a browser shows.
    const line = raw.replace(/ {2,}/g, " ").trim();
    if (!line) end();
    else lines.push(md ? escapeLineStart(line) : line);
  }
  end();
  return paragraphs.join("\n\n");
}

function applyWrap(text: string, ctx: Ctx): string {
  for (let i = ctx.wrap.length - 1; i >= 0; i--) text = ctx.wrap[i][0] + text + ctx.wrap[i][1];
  return text;
}

// ── Lists ────────────────────────────────────────────────────────────────────────────────────

interface Item {
  el: Element | null;
  nodes: ChildNode[];
}

/**
 * The items of a list, tolerating what browsers tolerate: a list nested directly in a list
 * belongs to the item before it, and wrappers between the list and its items are looked through.
 */
function listItems(listEl: Element, ctx: Ctx, items: Item[] = []): Item[] {
  for (const child of listEl.children) {
    if (isText(child)) {
      if (child.data.trim()) items.push({ el: null, nodes: [child] });
      continue;
    }
    if (!isElement(child) || skipped(child, ctx)) continue;
    if (child.name === "li") items.push({ el: child, nodes: [...child.children] });
    else if (LIST.has(child.name)) {
      if (items.length > 0) items[items.length - 1].nodes.push(child);
      else items.push({ el: null, nodes: [child] });
    } else if (child.children.some((c) => isElement(c) && c.name === "li")) listItems(child, ctx, items);
    else items.push({ el: null, nodes: [child] });
  }
  return items;
}
const LIST = new Set(["ul", "ol", "menu", "dir"]);

function list(el: Element, ctx: Ctx): { text: string; interrupts: boolean } {
  const ordered = el.name === "ol";
  let n = ordered ? (integerAttr(el, "start") ?? 1) : 1;
  let first: number | null = null;
  const lines: string[] = [];
  for (const item of listItems(el, ctx)) {
    const value = item.el && ordered ? integerAttr(item.el, "value") : null;
    if (value !== null) n = value;
    const marker = ordered ? `${n}.` : "-";
    const text = listItem(item.nodes, marker, ctx);
    if (!text) continue;
    first ??= n;
    lines.push(text);
    n++;
  }
  return { text: lines.join("\n"), interrupts: !ordered || first === 1 };
}

function integerAttr(el: Element, name: string): number | null {
  const raw = attr(el, name);
  if (raw === null || !/^\s*-?\d{1,9}\s*$/.test(raw)) return null;
  return Number.parseInt(raw, 10);
}

/** One item: its blocks with the marker on the first line and the continuation indented under it. */
function listItem(nodes: readonly ChildNode[], marker: string, ctx: Ctx): string {
  const md = ctx.opts.mode === "markdown";
  const inner = joinBlocks(blocks(nodes, ctx), md ? "item" : "text item");
  if (!inner) return "";
  const indent = " ".repeat(marker.length + 1);
  return inner
    .split("\n")
    .map((line, i) => (i === 0 ? `${marker} ${line}` : line ? indent + line : line))
    .join("\n");
}

// ── Code ─────────────────────────────────────────────────────────────────────────────────────

function codeBlock(el: Element, ctx: Ctx): string {
  let code = preText(el)
    .replace(/\r\n?/g, "\n")
    .replace(/^(?:[ \t]*\n)+/, "")
    .replace(/\s+$/, "");
  if (!code) return "";
  if (ctx.opts.mode === "text") return code;
  const longest = Math.max(0, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  code = `${fence}${codeLanguage(el)}\n${code}\n${fence}`;
  return code;
}

/** The text of a preformatted block: source whitespace kept, <br> a newline, dropped elements left out. */
function preText(node: ChildNode): string {
  if (isText(node)) return node.data;
  if (!isElement(node)) return "";
  if (node.name === "br") return "\n";
  if (DROPPED.has(node.name)) return "";
  let out = "";
  for (const child of node.children) out += preText(child);
  return out;
}

const LANGUAGE_CLASS = /(?:^|\s)(?:lang(?:uage)?-|highlight-source-)([\w#+.-]+)/i;
/** The language of a code block, from the conventions highlighters use (Prism, highlight.js, prettify, GitHub). */
function codeLanguage(pre: Element): string {
  const candidates: Element[] = [pre];
  const code = pre.children.find((c): c is Element => isElement(c) && c.name === "code");
  if (code) candidates.unshift(code);
  if (pre.parent && isElement(pre.parent)) candidates.push(pre.parent);
  for (const el of candidates) {
    const named = el.attribs["data-lang"] ?? el.attribs["data-language"];
    if (named && /^[\w#+.-]+$/.test(named)) return named.toLowerCase();
    const match = LANGUAGE_CLASS.exec(el.attribs.class ?? "");
    if (match) return match[1].toLowerCase();
  }
  return "";
}

// ── Tables ───────────────────────────────────────────────────────────────────────────────────

const TABLE_PARTS = new Set(["tr", "td", "th", "thead", "tbody", "tfoot", "caption", "colgroup", "col"]);

/**
 * The rows of a table, header rows first and footer rows last as a browser draws them. Cells
 * placed straight in a table or section (the parser adds no <tr>) form a row of their own.
 */
function tableRows(table: Element): Element[] {
  const head: Element[] = [];
  const body: Element[] = [];
  const foot: Element[] = [];
  const hasCells = (el: Element) => el.children.some((c) => isElement(c) && (c.name === "td" || c.name === "th"));
  if (hasCells(table)) body.push(table);
  for (const child of table.children) {
    if (!isElement(child)) continue;
    if (child.name === "tr") body.push(child);
    else if (child.name === "thead" || child.name === "tbody" || child.name === "tfoot") {
      const rows = child.children.filter((r): r is Element => isElement(r) && r.name === "tr");
      if (hasCells(child)) rows.unshift(child);
      (child.name === "thead" ? head : child.name === "tfoot" ? foot : body).push(...rows);
    }
  }
  return [...head, ...body, ...foot];
}

/**
 * What a table holds outside its rows and cells (text or elements written straight in it): a
 * browser shows it before the table, so it is rendered there rather than lost.
 */
function strayTableContent(table: Element): ChildNode[] {
  const stray: ChildNode[] = [];
  for (const part of [table, ...table.children]) {
    if (
      !isElement(part) ||
      !(part === table || part.name === "thead" || part.name === "tbody" || part.name === "tfoot")
    )
      continue;
    for (const child of part.children) {
      if (isText(child) ? child.data.trim() !== "" : isElement(child) && !TABLE_PARTS.has(child.name))
        stray.push(child);
    }
  }
  return stray;
}

const cellsOf = (row: Element, ctx: Ctx) =>
  row.children.filter((c): c is Element => isElement(c) && (c.name === "td" || c.name === "th") && !skipped(c, ctx));

/**
 * A GitHub table when the table holds data; a layout table (one column, a table inside a cell,
 * role=presentation) is read as the blocks of its cells, since a grid of page fragments is not
 * a table a reader wants.
 */
function table(el: Element, ctx: Ctx, out: Block[]): void {
  const rows = tableRows(el).filter((r) => !skipped(r, ctx));
  const caption = el.children.find((c): c is Element => isElement(c) && c.name === "caption" && !skipped(c, ctx));
  const role = attr(el, "role");
  const width = Math.max(0, ...rows.map((r) => cellsOf(r, ctx).reduce((n, c) => n + span(c, "colspan", 1000), 0)));
  const layout =
    role === "presentation" ||
    role === "none" ||
    width <= 1 ||
    rows.some((r) => cellsOf(r, ctx).some((c) => hasDescendant(c, "table")));
  blocks(strayTableContent(el), ctx, out);
  if (caption) blocks(caption.children, ctx, out);
  if (layout) {
    for (const row of rows) for (const cell of cellsOf(row, ctx)) blocks(cell.children, ctx, out);
    return;
  }
  const grid = tableGrid(rows, ctx);
  if (grid.length === 0 || grid.every((row) => row.every((cell) => !cell))) return;
  const columns = Math.max(...grid.map((row) => row.length));
  for (const row of grid) while (row.length < columns) row.push("");
  if (ctx.opts.mode === "text") {
    out.push({ text: grid.map((row) => row.join("\t").trimEnd()).join("\n"), interrupts: false });
    return;
  }
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const lines = [line(grid[0]), line(grid[0].map(() => "---")), ...grid.slice(1).map(line)];
  out.push({ text: lines.join("\n"), interrupts: false });
}

function span(cell: Element, name: string, max: number): number {
  const n = integerAttr(cell, name);
  return n === null || n < 1 ? 1 : Math.min(n, max);
}

/** Cells placed on a grid as a browser places them: a colspan fills the columns it covers, a rowspan the rows below. */
function tableGrid(rows: Element[], ctx: Ctx): string[][] {
  const grid: string[][] = [];
  const carried: number[] = [];
  for (const row of rows) {
    const cells: string[] = [];
    let col = 0;
    const skipCarried = () => {
      while (carried[col] > 0) {
        cells[col] = "";
        carried[col]--;
        col++;
      }
    };
    for (const cell of cellsOf(row, ctx)) {
      skipCarried();
      const cols = span(cell, "colspan", 1000);
      const down = span(cell, "rowspan", 1000);
      cells[col] = cellText(cell, ctx);
      for (let k = 0; k < cols; k++) {
        if (k > 0) cells[col + k] = "";
        if (down > 1) carried[col + k] = down - 1;
      }
      col += cols;
    }
    for (; col < carried.length; col++) {
      if (carried[col] > 0) {
        cells[col] = "";
        carried[col]--;
      }
    }
    for (let i = 0; i < cells.length; i++) cells[i] ??= "";
    grid.push(cells);
  }
  return grid;
}

function cellText(cell: Element, ctx: Ctx): string {
  const text = blocks(cell.children, ctx)
    .map((b) => b.text)
    .join("\n");
  if (ctx.opts.mode === "text") return text.replace(/\s*\n\s*/g, " ");
  return text.replace(/ {2}\n|\n+/g, "<br>").replace(/\|/g, "\\|");
}

function hasDescendant(el: Element, name: string): boolean {
  for (const child of el.children)
    if (isElement(child) && (child.name === name || hasDescendant(child, name))) return true;
  return false;
}

// ── Inline ───────────────────────────────────────────────────────────────────────────────────

const EMPHASIS = new Set(["em", "i", "cite", "dfn", "var"]);
const CODE = new Set(["code", "kbd", "samp", "tt"]);

function inlineChildren(el: Element, ctx: Ctx, children: readonly ChildNode[] = el.children): string {
  let out = "";
  for (const child of children) {
    if (isText(child)) out += inlineText(child.data, ctx);
    else if (isElement(child) && !skipped(child, ctx)) out += inline(child, ctx);
  }
  return out;
}

/** An inline element as Markdown or text; `children` narrows it to part of its content. */
function inline(el: Element, ctx: Ctx, children: readonly ChildNode[] = el.children): string {
  const md = ctx.opts.mode === "markdown";
  const name = el.name;
  if (name === "br") return "\n";
  // Blocks met inside inline content (a heading's <div>, a cell's <p>) are line breaks there.
  if (BLOCK.has(name)) return name === "hr" ? "\n" : `\n${inlineChildren(el, ctx, children)}\n`;
  if (!md) return name === "img" ? "" : inlineChildren(el, ctx, children);
  if (name === "img") return image(el, ctx);
  if (name === "a") return link(el, ctx, children);
  if (CODE.has(name)) return codeSpan(collapseWhitespace(children.map(textContent).join("")));
  if ((name === "strong" || name === "b") && !ctx.strong) {
    return markers(inlineChildren(el, { ...ctx, strong: true }, children), "**");
  }
  if (EMPHASIS.has(name) && !ctx.em) return markers(inlineChildren(el, { ...ctx, em: true }, children), "*");
  if ((name === "del" || name === "s" || name === "strike") && !ctx.del) {
    return markers(inlineChildren(el, { ...ctx, del: true }, children), "~~");
  }
  if (name === "q") return `"${inlineChildren(el, ctx, children)}"`;
  return inlineChildren(el, ctx, children);
}

/** Emphasis markers must touch the text they mark: surrounding spaces move outside them. */
function markers(content: string, marker: string): string {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(content)!;
  if (!m[2]) return m[1] + m[3];
  return `${m[1]}${marker}${m[2].replace(/\s*\n\s*/g, " ")}${marker}${m[3]}`;
}

function codeSpan(text: string): string {
  if (!text.trim()) return text ? " " : "";
  const lead = text.startsWith(" ") ? " " : "";
  const trail = text.endsWith(" ") ? " " : "";
  const code = text.trim();
  const longest = Math.max(0, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = longest > 0 ? " " : "";
  return `${lead}${fence}${pad}${code}${pad}${fence}${trail}`;
}

/** The absolute target of a link worth keeping as one: not `javascript:`, not a jump within the page. */
function linkTarget(el: Element, ctx: Ctx): string | null {
  const href = attr(el, "href");
  if (href === null || href.trim() === "" || href.trim().startsWith("#")) return null;
  const url = resolveUrl(href, ctx.opts.base);
  if (url === null || !(isHttpUrl(url) || url.startsWith("mailto:"))) return null;
  return destination(url);
}

function link(el: Element, ctx: Ctx, children: readonly ChildNode[]): string {
  const target = ctx.link ? null : linkTarget(el, ctx);
  let content = inlineChildren(el, { ...ctx, link: true }, children);
  if (target === null) return content;
  if (!content.trim()) content = escapeText(collapseWhitespace(fallbackLabel(el)), true);
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(content)!;
  if (!m[2]) return m[1] + m[3];
  return `${m[1]}[${m[2].replace(/\s*\n\s*/g, " ")}](${target})${m[3]}`;
}

/** A name for a link that shows no text (an icon, an image left out): its label, title, or its image's alt. */
function fallbackLabel(el: Element): string {
  const label = attr(el, "aria-label") ?? attr(el, "title");
  if (label) return label;
  const img = findElement(el, (child) => child.name === "img" && !!attr(child, "alt")?.trim());
  return img ? attr(img, "alt")! : "";
}

/** The URL an image shows; lazy-loading pages keep it in data-src or srcset while src holds a placeholder. */
function imageSource(el: Element): string | null {
  const candidates = [attr(el, "src"), attr(el, "data-src"), attr(el, "data-lazy-src"), attr(el, "data-original")];
  for (const c of candidates) if (c?.trim() && !c.trim().startsWith("data:")) return c;
  const srcset = attr(el, "srcset") ?? attr(el, "data-srcset");
  const first = srcset?.trim().split(/\s+/)[0]?.replace(/,$/, "");
  return first && !first.startsWith("data:") ? first : null;
}

function image(el: Element, ctx: Ctx): string {
  // A 1×1 image is a tracking pixel, not content.
  if (attr(el, "width") === "1" && attr(el, "height") === "1") return "";
  const src = imageSource(el);
  const url = src === null ? null : resolveUrl(src, ctx.opts.base);
  if (url === null || !isHttpUrl(url)) return "";
  const alt = escapeText(collapseWhitespace(attr(el, "alt") ?? "").trim(), true);
  return `![${alt}](${destination(url)})`;
}

/** A URL as a link destination: in <…> when its parentheses would not balance. */
function destination(url: string): string {
  let depth = 0;
  for (const ch of url) {
    if (ch === "(") depth++;
    else if (ch === ")" && --depth < 0) break;
  }
  return depth === 0 ? url : `<${url}>`;
}

// ── Text ─────────────────────────────────────────────────────────────────────────────────────

function inlineText(data: string, ctx: Ctx): string {
  const text = collapseWhitespace(data);
  return ctx.opts.mode === "markdown" ? escapeText(text, ctx.link) : text;
}

/**
 * Escapes what Markdown would read as markup, and nothing else: a `*` between spaces, an `_`
 * inside a word or a lone `[` stay as they are so the text remains readable as text.
 */
export function escapeText(text: string, inLink: boolean): string {
  // Most text has none of these: one test instead of eight replacements.
  if (!MARKUP_CHARS.test(text)) return text;
  return text
    .replace(/\\(?=[!-/:-@[-`{-~])/g, "\\\\")
    .replace(/`/g, "\\`")
    .replace(/\*/g, (m, i: number, s: string) => (s[i - 1] === " " && s[i + 1] === " " ? m : "\\*"))
    .replace(/_/g, (m, i: number, s: string) => (isWordChar(s[i - 1]) && isWordChar(s[i + 1]) ? m : "\\_"))
    .replace(/~~+/g, (m) => m.replace(/~/g, "\\~"))
    .replace(/<(?=[A-Za-z/!?])/g, "\\<")
    .replace(/&(?=#?[A-Za-z0-9]+;)/g, "\\&")
    .replace(inLink ? /[[\]]/g : /\](?=[([])/g, "\\$&");
}

const MARKUP_CHARS = /[\\`*_~<&[\]]/;
const isWordChar = (ch: string | undefined) => ch !== undefined && /[\p{L}\p{N}]/u.test(ch);

function escapeLineStart(line: string): string {
  return line
    .replace(/^(#{1,6})(?=\s|$)/, "\\$1")
    .replace(/^([>+-])(?=\s|$)/, "\\$1")
    .replace(/^(\d{1,9})([.)])(?=\s|$)/, "$1\\$2")
    .replace(/^(=+|-{2,})\s*$/, "\\$1");
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*| {2,}/g, " ").trim();
}
