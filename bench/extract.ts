/**
 * `npm exec -- node bench/extract.ts [--pages DIR] [--out DIR] [--main-content DIR] [--no-cpu]`:
 * how the HTML → Markdown converter was chosen (bench/extract-measurements.md). Every candidate converts the golden pages
 * of test/fixtures/extract (quality: lines that differ from the golden) and a typical page of
 * 100 KB and 1 MB generated here (CPU per page, median of timed rounds after warm-up, and the
 * heap the parsed page holds). `--pages DIR` also times every `*.html` (or `DIR/<name>/source.html`)
 * found there; `--out DIR` writes each candidate's output of each golden page for reading.
 * `--main-content DIR`, given pages laid out as `DIR/<name>/{source,expected}.html` (the test pages
 * of mozilla/readability, whose expected.html is the article a person picked), scores
 * only_main_content: word precision and recall of text(source) against the text of expected.html.
 * `--chosen-only`: only the chosen converter's CPU per page, ending with a `CONVERSION_JSON {…}`
 * line (what `npm run bench` reads to print the conversion cost).
 *
 * Measured in Node, whose V8 is the engine workerd embeds: the numbers are CPU time of the same
 * JavaScript. Erasable-syntax TypeScript (Node 22 strips the types).
 */
import fs from "node:fs";
import { registerHooks } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

// src/ imports its siblings without an extension, as the bundler resolves them.
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (e) {
      if (specifier.startsWith(".")) return next(`${specifier}.ts`, context);
      throw e;
    }
  },
});

const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const FIXTURES = path.join(PROJECT, "test", "fixtures", "extract");
const PAGE_URL = "https://example.com/guide/page.html";
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

const { markdown, text } = await import("../src/extract/content.ts");
const { parseHtml } = await import("../src/extract/dom.ts");
const { parse: parse5 } = await import("parse5");
const { adapter: domhandlerAdapter } = await import("parse5-htmlparser2-tree-adapter");
const { parseHTML } = await import("linkedom");
const TurndownService = (await import("turndown")).default;
const { gfm } = await import("@joplin/turndown-plugin-gfm");
const { NodeHtmlMarkdown } = await import("node-html-markdown");

v8.setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** What a library leaves to its caller and we do for it, to compare like with like: drop what is not shown. */
const NOT_SHOWN =
  "script, style, noscript, template, svg, iframe, [hidden], [aria-hidden=true], " +
  "[style*='display:none'], [style*='display: none']";

function turndownService() {
  const service = new TurndownService({
    headingStyle: "atx",
    codeBlockStyle: "fenced",
    bulletListMarker: "-",
    emDelimiter: "*",
    hr: "---",
  });
  service.use(gfm);
  service.remove(["script", "style", "noscript", "template", "iframe"]);
  return service;
}
const turndown = turndownService();

interface Candidate {
  name: string;
  /** Parse only, for the heap a parsed page holds. */
  parse: (html: string) => unknown;
  convert: (html: string, url: string) => string;
  /**
   * Larger pages are not timed: node-html-markdown's time grows with the square of the page (one
   * call on the first 100/200/400 KB of a Wikipedia article: 1.8/6.6/22.5 s of CPU).
   */
  maxKb?: number;
}

const CHOSEN_ONLY = process.argv.includes("--chosen-only");

const allCandidates: Candidate[] = [
  {
    name: "own renderer + htmlparser2 (chosen)",
    parse: (html) => parseHtml(html),
    convert: (html, url) => markdown(html, url),
  },
  {
    name: "own renderer + parse5",
    parse: (html) => parse5(html, { treeAdapter: domhandlerAdapter }),
    convert: (html, url) => markdown(parse5(html, { treeAdapter: domhandlerAdapter }) as never, url),
  },
  {
    name: "turndown + gfm + linkedom",
    parse: (html) => parseHTML(html).document,
    convert: (html, url) => {
      const { document } = parseHTML(html);
      const base = new URL(document.querySelector("base[href]")?.getAttribute("href") ?? url, url).href;
      for (const el of document.querySelectorAll(NOT_SHOWN)) el.remove();
      for (const [sel, name] of [
        ["a[href]", "href"],
        ["img[src]", "src"],
      ]) {
        for (const el of document.querySelectorAll(sel)) {
          try {
            el.setAttribute(name, new URL(el.getAttribute(name), base).href);
          } catch {
            // left as written
          }
        }
      }
      return `${turndown.turndown(document.body ?? document.documentElement).trim()}\n`;
    },
  },
  {
    name: "turndown + gfm (its own domino parser)",
    parse: () => null,
    convert: (html) => `${turndown.turndown(html).trim()}\n`,
  },
  {
    name: "node-html-markdown",
    parse: () => null,
    convert: (html) => `${NodeHtmlMarkdown.translate(html).trim()}\n`,
    maxKb: 150,
  },
];

const candidates = CHOSEN_ONLY ? allCandidates.slice(0, 1) : allCandidates;

// ── quality ──────────────────────────────────────────────────────────────────────────────────

/** Lines of `a` and `b` outside their longest common subsequence: 0 when equal. */
function lineDiff(a: string, b: string): number {
  const x = a.split("\n");
  const y = b.split("\n");
  const dp: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--)
      dp[i][j] = x[i] === y[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  }
  return x.length + y.length - 2 * dp[0][0];
}

const goldens = fs
  .readdirSync(FIXTURES)
  .filter((f) => /^[\w-]+\.md$/.test(f) && f !== "latin1.md")
  .map((f) => f.slice(0, -3));
const outDir = arg("--out");
if (!CHOSEN_ONLY)
  console.log(`\nQuality: lines differing from the golden Markdown (${goldens.length} pages; 0 = identical)\n`);
const qualityRows: string[][] = [];
for (const c of CHOSEN_ONLY ? [] : candidates) {
  let exact = 0;
  let total = 0;
  const per: string[] = [];
  for (const name of goldens) {
    const html = fs.readFileSync(path.join(FIXTURES, `${name}.html`), "utf8");
    const golden = fs.readFileSync(path.join(FIXTURES, `${name}.md`), "utf8");
    let out: string;
    try {
      out = c.convert(html, PAGE_URL);
    } catch (e) {
      out = `THREW: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (outDir) {
      fs.mkdirSync(path.join(outDir, slug(c.name)), { recursive: true });
      fs.writeFileSync(path.join(outDir, slug(c.name), `${name}.md`), out);
    }
    const d = lineDiff(golden, out);
    if (d === 0) exact++;
    total += d;
    per.push(`${name} ${d}`);
  }
  qualityRows.push([c.name, `${exact}/${goldens.length}`, String(total), per.join(", ")]);
}
if (!CHOSEN_ONLY) printTable(["converter", "identical", "lines differing", "per page"], qualityRows);

function slug(s: string): string {
  return s
    .replace(/[^a-z0-9]+/gi, "-")
    .replace(/^-|-$/g, "")
    .toLowerCase();
}

// ── CPU ──────────────────────────────────────────────────────────────────────────────────────

/**
 * A deterministic page shaped like a real article page: head with inline script and style, a
 * cookie banner, menus, article sections (paragraphs, lists, figures, tables, code), sidebar, footer.
 */
function typicalPage(targetBytes: number): string {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const words = "the of river water temperature station measured rise city downstream data researchers decade "
    .concat("summer average network model climate flow level report found across higher than most year")
    .split(" ");
  const sentence = (n: number) => Array.from({ length: n }, () => pick(words)).join(" ");
  const inline = () => {
    const parts: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = rand();
      const s = sentence(8 + Math.floor(rand() * 10));
      if (r < 0.15)
        parts.push(`<a href="/story/${Math.floor(rand() * 1e6)}" class="link link--inline" data-track="body">${s}</a>`);
      else if (r < 0.25) parts.push(`<strong>${s}</strong>`);
      else if (r < 0.32) parts.push(`<em>${s}</em>`);
      else if (r < 0.36) parts.push(`<code>${pick(words)}()</code> ${s}`);
      else parts.push(`${s}.`);
    }
    return parts.join(" ");
  };
  const links = (n: number, cls: string) =>
    Array.from(
      { length: n },
      (_, i) => `<li class="${cls}__item"><a class="${cls}__link" href="/${cls}/${i}">${sentence(2)}</a></li>`,
    ).join("");
  const state = Array.from({ length: 40 }, (_, i) => ({ id: i, title: sentence(6), tags: [pick(words), pick(words)] }));
  const script = `<script>window.__STATE__=${JSON.stringify(state)};</script>`;
  const rules = Array.from({ length: 60 }, (_, i) => {
    const color = (i * 4321).toString(16).slice(0, 3);
    return `.c${i}{margin:${i}px;padding:0 ${i}px;color:#${color}}`;
  });
  const style = `<style>${rules.join("")}</style>`;
  const head =
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${sentence(6)}</title>` +
    `<meta name="description" content="${sentence(20)}"><meta property="og:title" content="${sentence(5)}">` +
    `<link rel="canonical" href="/story/1"><link rel="icon" href="/favicon.ico">${style}${script}</head>`;
  const chrome =
    `<body class="page"><div id="cookie-banner" class="consent"><p>${sentence(20)}</p><button>OK</button></div>` +
    `<header class="site-header"><div class="wrap"><a href="/" class="logo"><img src="/logo.svg" alt="Logo"></a>` +
    `<nav class="menu"><ul>${links(40, "menu")}</ul></nav></div></header>` +
    `<div class="layout"><main id="main"><article class="story">` +
    `<header><h1>${sentence(8)}</h1><p class="byline">By <a href="/a">${sentence(2)}</a></p></header>`;
  const tail =
    `</article></main><aside class="rail"><h2>Most read</h2><ol>${links(20, "rail")}</ol></aside></div>` +
    `<footer class="site-footer"><ul>${links(30, "footer")}</ul><p>© 2026</p></footer>${script}</body></html>`;
  let body = "";
  for (let section = 0; head.length + chrome.length + body.length + tail.length < targetBytes; section++) {
    body += `<section class="story__section" data-section="${section}">`;
    body += `<div class="story__body"><h2>${sentence(5)}</h2>`;
    for (let p = 0; p < 4; p++) body += `<div class="para-wrap"><p class="story__text">${inline()}</p></div>`;
    if (section % 2 === 0) {
      const items = Array.from({ length: 5 }, () => `<li>${sentence(6)}<ul><li>${sentence(4)}</li></ul></li>`);
      body += `<ul>${items.join("")}</ul>`;
    }
    if (section % 3 === 0) {
      body +=
        `<figure><img src="/img/${section}.jpg" srcset="/img/${section}-2x.jpg 2x" ` +
        `alt="${sentence(4)}" loading="lazy">` +
        `<figcaption>${sentence(8)}</figcaption></figure>`;
    }
    if (section % 4 === 0) {
      body +=
        `<table class="data"><thead><tr><th>Station</th><th>2016</th><th>2026</th><th>Change</th></tr></thead><tbody>` +
        Array.from(
          { length: 6 },
          (_, i) =>
            `<tr><td>${pick(words)} ${i}</td><td>${(rand() * 20).toFixed(1)}</td>` +
            `<td>${(rand() * 20).toFixed(1)}</td><td>+${(rand() * 2).toFixed(2)}</td></tr>`,
        ).join("") +
        "</tbody></table>";
    }
    if (section % 5 === 0) {
      body +=
        `<pre><code class="language-python">for station in stations:\n    print(station.mean())\n</code></pre>` +
        `<blockquote><p>${inline()}</p></blockquote>`;
    }
    body += "</div></section>";
  }
  return head + chrome + body + tail;
}

/**
 * Per call, after warm-up (at least 3 timed calls, more while the budget lasts, at most 200): the
 * median wall time, and the process's CPU time (user + system) divided by the calls — on a shared,
 * loaded machine wall time stretches with the wait for a core, CPU time does not.
 */
function timePerCall(fn: () => unknown, budgetMs: number): { median: number; cpu: number; rounds: number } {
  const first = performance.now();
  fn();
  if (performance.now() - first < budgetMs / 10) for (let i = 0; i < 2; i++) fn();
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  while (samples.length < 3 || (performance.now() - started < budgetMs && samples.length < 200)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  samples.sort((a, b) => a - b);
  return {
    median: samples[Math.floor(samples.length / 2)],
    cpu: (cpu.user + cpu.system) / 1000 / samples.length,
    rounds: samples.length,
  };
}

function retainedMb(parse: () => unknown): number | null {
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = parse();
  if (kept === null) return null;
  gc();
  const after = process.memoryUsage().heapUsed;
  if (kept === undefined) console.log("unreachable");
  return (after - before) / 1024 / 1024;
}

const pages: { name: string; html: string }[] = [
  { name: "typical 100 KB", html: typicalPage(100 * 1024) },
  { name: "typical 1 MB", html: typicalPage(1024 * 1024) },
];
const pagesDir = arg("--pages");
if (pagesDir) {
  for (const entry of fs.readdirSync(pagesDir).sort()) {
    const file = entry.endsWith(".html") ? path.join(pagesDir, entry) : path.join(pagesDir, entry, "source.html");
    if (fs.existsSync(file)) pages.push({ name: entry.replace(/\.html$/, ""), html: fs.readFileSync(file, "utf8") });
  }
}

console.log("\nCPU per page (ms, median) and heap held by the parsed page (MB)\n");
const cpuRows: string[][] = [];
const chosenCost: { page: string; kb: number; cpu_ms: number; wall_ms: number; heap_mb: number | null }[] = [];
for (const page of process.argv.includes("--no-cpu") ? [] : pages) {
  const kb = Buffer.byteLength(page.html) / 1024;
  for (const c of candidates) {
    let cell: string;
    if (c.maxKb !== undefined && kb > c.maxKb) {
      cpuRows.push([`${page.name} (${kb.toFixed(0)} KB)`, c.name, "not run: quadratic", "n/a"]);
      continue;
    }
    try {
      const { median, cpu, rounds } = timePerCall(() => c.convert(page.html, PAGE_URL), kb > 500 ? 6_000 : 3_000);
      cell = `${cpu.toFixed(1)} ms CPU, ${median.toFixed(1)} ms wall (${rounds} runs)`;
      if (c === allCandidates[0]) chosenCost.push({ page: page.name, kb, cpu_ms: cpu, wall_ms: median, heap_mb: null });
    } catch (e) {
      cell = `threw: ${e instanceof Error ? e.message.slice(0, 40) : String(e)}`;
    }
    const heap = retainedMb(() => c.parse(page.html));
    cpuRows.push([`${page.name} (${kb.toFixed(0)} KB)`, c.name, cell, heap === null ? "n/a" : heap.toFixed(1)]);
    console.error(`  ${cpuRows[cpuRows.length - 1].join(" | ")}`);
  }
}
printTable(["page", "converter", "CPU per page", "parsed heap MB"], cpuRows);
for (const row of chosenCost) row.heap_mb = retainedMb(() => parseHtml(pages.find((p) => p.name === row.page)!.html));
if (CHOSEN_ONLY) console.log(`CONVERSION_JSON ${JSON.stringify(chosenCost)}`);

function printTable(headers: string[], rows: string[][]): void {
  console.log(`| ${headers.join(" | ")} |`);
  console.log(`|${headers.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

// ── main content ─────────────────────────────────────────────────────────────────────────────

const mainDir = arg("--main-content");
if (mainDir) {
  const words = (s: string) => {
    const counts = new Map<string, number>();
    for (const w of s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
    return counts;
  };
  const overlap = (a: Map<string, number>, b: Map<string, number>) => {
    let n = 0;
    for (const [w, c] of a) n += Math.min(c, b.get(w) ?? 0);
    return n;
  };
  const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const rows: string[][] = [];
  for (const main of [false, true]) {
    let precision = 0;
    let recall = 0;
    let pagesScored = 0;
    let missed = 0;
    for (const entry of fs.readdirSync(mainDir).sort()) {
      const source = path.join(mainDir, entry, "source.html");
      const expected = path.join(mainDir, entry, "expected.html");
      if (!fs.existsSync(source) || !fs.existsSync(expected)) continue;
      const want = words(text(fs.readFileSync(expected, "utf8"), PAGE_URL));
      const got = words(text(fs.readFileSync(source, "utf8"), PAGE_URL, { onlyMainContent: main }));
      if (total(want) === 0) continue;
      const common = overlap(got, want);
      const r = common / total(want);
      precision += total(got) === 0 ? 0 : common / total(got);
      recall += r;
      if (r < 0.5) missed++;
      pagesScored++;
    }
    rows.push([
      main ? "only_main_content" : "whole page",
      String(pagesScored),
      (precision / pagesScored).toFixed(2),
      (recall / pagesScored).toFixed(2),
      String(missed),
    ]);
  }
  console.log("\nMain content against the article a person picked (mean word precision / recall)\n");
  printTable(["text()", "pages", "precision", "recall", "pages with recall < 0.5"], rows);
}
