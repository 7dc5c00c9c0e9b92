/**
 * The 64 KB cap on what is kept with a job's metadata (API.md: `metadata` and `extracted`, 90
 * days): past it, values are cut, in a fixed order, until the JSON fits, and `extract_truncated`
 * says so.
 */
import type { Extracted } from "./fields";
import type { Metadata } from "./metadata";

export const MAX_KEPT_RESULT_BYTES = 64 * 1024;

export interface KeptResults {
  metadata: Metadata | null;
  extracted: Extracted | null;
}

/** A URL cut short is a different URL: such values are kept whole or not at all. */
const URL_KEYS = new Set(["canonical_url", "favicon", "image"]);

/**
 * `{metadata, extracted}` whose JSON (UTF-8) is at most `maxBytes`, unchanged when it already is.
 * Otherwise every value starts empty (null, or [] for a list) and is filled back in order —
 * metadata's fields, then each extracted field, a list item by item — until the first value that
 * does not fit: that one is cut to what still fits, at a character boundary (a URL is left out
 * rather than cut), and every value after it stays empty.
 */
export function capKeptResults(
  results: KeptResults,
  maxBytes: number = MAX_KEPT_RESULT_BYTES,
): KeptResults & { extract_truncated: boolean } {
  if (jsonBytes(results) <= maxBytes) return { ...results, extract_truncated: false };

  const metadata = results.metadata === null ? null : emptyMetadata();
  const extracted: Extracted | null = results.extracted === null ? null : {};
  if (results.extracted && extracted) {
    for (const [name, value] of Object.entries(results.extracted)) extracted[name] = Array.isArray(value) ? [] : null;
  }
  let budget = maxBytes - jsonBytes({ metadata, extracted });
  let spent = false;

  /**
   * `value` if its JSON takes at most `room` bytes more than what it replaces, else its longest
   * prefix that does (null for a value kept whole or not at all); after the first value that did
   * not fit, every later one stays empty.
   */
  const fit = (value: string, replacedBytes: number, room: number, whole: boolean): string | null => {
    if (spent) return null;
    const full = jsonBytes(value) - replacedBytes;
    if (full <= room) {
      budget -= full;
      return value;
    }
    spent = true;
    if (whole) return null;
    let lo = 0;
    let hi = value.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (jsonBytes(cut(value, mid)) - replacedBytes <= room) lo = mid;
      else hi = mid - 1;
    }
    const prefix = cut(value, lo);
    if (!prefix) return null;
    budget -= jsonBytes(prefix) - replacedBytes;
    return prefix;
  };

  if (results.metadata && metadata) {
    for (const key of ["title", "description", "language", "canonical_url", "favicon"] as const) {
      const value = results.metadata[key];
      if (value !== null) metadata[key] = fit(value, NULL_BYTES, budget, URL_KEYS.has(key));
    }
    for (const key of ["title", "description", "image", "type", "site_name"] as const) {
      const value = results.metadata.og[key];
      if (value !== null) metadata.og[key] = fit(value, NULL_BYTES, budget, URL_KEYS.has(key));
    }
  }
  if (results.extracted && extracted) {
    for (const [name, value] of Object.entries(results.extracted)) {
      if (spent) break;
      if (typeof value === "string") extracted[name] = fit(value, NULL_BYTES, budget, false);
      else if (Array.isArray(value)) {
        const kept: string[] = [];
        for (const item of value) {
          // Each item after the first also costs its comma.
          const piece = fit(item, kept.length > 0 ? -1 : 0, budget, false);
          if (piece === null) break;
          kept.push(piece);
        }
        extracted[name] = kept;
      }
    }
  }
  return { metadata, extracted, extract_truncated: true };
}

const NULL_BYTES = 4;

function emptyMetadata(): Metadata {
  return {
    title: null,
    description: null,
    language: null,
    canonical_url: null,
    favicon: null,
    og: { title: null, description: null, image: null, type: null, site_name: null },
  };
}

/** The first `n` UTF-16 units of `s`, one fewer when that would split a surrogate pair. */
function cut(s: string, n: number): string {
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

export function jsonBytes(value: unknown): number {
  return utf8Length(JSON.stringify(value));
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
