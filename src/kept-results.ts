import { type JobSpec, resultOptions } from "./domain";
import { capKeptResults, extract, type Link, makeResults, markdown, metadata, parseHtml } from "./extract";

/**
 * What a job keeps in its `result_meta` (90 days, with the job's metadata): the return values of
 * its `evaluate` actions, and — when the request asked for them — `metadata` and `extracted`,
 * made once from the page as fetched or rendered (after the actions), capped at 64 KB together.
 */
export interface ResultMeta {
  evaluate_results?: unknown[];
  metadata?: ReturnType<typeof metadata> | null;
  extracted?: ReturnType<typeof extract> | null;
  extract_truncated?: boolean;
}

/**
 * What the consumer keeps of a page, from one parse: the `result_meta` JSON (null when there is
 * nothing to keep) and, when the request asked for markdown, the page's Markdown, which goes into
 * the run's pack beside the HTML so an export never converts pages. A job that asked for metadata
 * or extraction but has no page (a network error) keeps null for them, so "requested but nothing
 * found" stays distinct from "not requested". `baseUrl` is where the page ended up (after
 * redirects), which relative URLs resolve against.
 */
export function keptFromPage(
  spec: JobSpec,
  page: { html: string | null; baseUrl: string; evaluate_results: unknown[] | null },
): { result_meta: string | null; markdown: string | null } {
  const opts = resultOptions(spec);
  const wantMetadata = opts.formats.includes("metadata");
  const wantMarkdown = opts.formats.includes("markdown") && page.html !== null;
  const doc = page.html !== null && (wantMetadata || opts.extract || wantMarkdown) ? parseHtml(page.html) : null;
  const md = doc && wantMarkdown ? markdown(doc, page.baseUrl, { onlyMainContent: opts.only_main_content }) : null;
  return { result_meta: resultMetaJson(opts, wantMetadata, { ...page, doc }), markdown: md };
}

function resultMetaJson(
  opts: ReturnType<typeof resultOptions>,
  wantMetadata: boolean,
  page: { doc: ReturnType<typeof parseHtml> | null; baseUrl: string; evaluate_results: unknown[] | null },
): string | null {
  const out: ResultMeta = {};
  if (page.evaluate_results) out.evaluate_results = page.evaluate_results;
  if (wantMetadata || opts.extract) {
    let md: ResultMeta["metadata"] = null;
    let ex: ResultMeta["extracted"] = null;
    if (page.doc !== null) {
      md = wantMetadata ? metadata(page.doc, page.baseUrl) : null;
      ex = opts.extract ? extract(page.doc, page.baseUrl, opts.extract) : null;
    }
    const capped = capKeptResults({ metadata: md, extracted: ex });
    if (wantMetadata) out.metadata = capped.metadata;
    if (opts.extract) out.extracted = capped.extracted;
    if (capped.extract_truncated) out.extract_truncated = true;
  }
  return Object.keys(out).length > 0 ? JSON.stringify(out) : null;
}

/** A stored result_meta; one that is not JSON (damaged) reads as nothing kept rather than failing the read. */
export function parseResultMeta(json: string | null): ResultMeta {
  if (!json) return {};
  try {
    return JSON.parse(json) as ResultMeta;
  } catch {
    return {};
  }
}

/** A stored spec's result options; a spec that is not JSON reads as the defaults. */
export function storedResultOptions(specJson: string | null) {
  try {
    return resultOptions(specJson ? (JSON.parse(specJson) as JobSpec) : ({} as JobSpec));
  } catch {
    return resultOptions({} as JobSpec);
  }
}

/** Made on read from the stored page: markdown, text and links (only those asked for), from one parse. */
export function pageResults(
  html: string,
  baseUrl: string,
  opts: { formats: readonly string[]; only_main_content: boolean },
): { markdown?: string; text?: string; links?: Link[] } {
  const wanted = (["markdown", "text", "links"] as const).filter((f) => opts.formats.includes(f));
  if (wanted.length === 0) return {};
  return makeResults(html, baseUrl, { formats: wanted, only_main_content: opts.only_main_content });
}
