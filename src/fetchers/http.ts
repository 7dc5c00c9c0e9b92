import { LIMITS } from "../config";
import { classifyResponse, type AttemptResult } from "./outcome";
import { targetRefusal } from "./url-guard";
import { hopHeaders, type SentOptions } from "../request-options";

/**
 * Sent with every fetch-mode request: workerd's fetch sends no User-Agent at all, which many
 * sites answer with a block page.
 */
export const BROWSER_HEADERS: Record<string, string> = {
  "user-agent":
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
  "accept-language": "en-US,en;q=0.9",
};

class BodyTooLarge extends Error {}

/** Reads at most `cap` bytes; a larger body is an error rather than a memory blow-up. */
async function readCapped(res: Response, cap: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel();
    throw new BodyTooLarge();
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > cap) {
      await reader.cancel();
      throw new BodyTooLarge();
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Decodes with the charset the server declared (header, then <meta>), falling back to UTF-8. */
export function decodeHtml(bytes: Uint8Array, contentType: string | null): string {
  let label = /charset=["']?([\w-]+)/i.exec(contentType ?? "")?.[1];
  if (!label) {
    const head = new TextDecoder("latin1").decode(bytes.subarray(0, 2048));
    label = /<meta[^>]+charset=["']?([\w-]+)/i.exec(head)?.[1];
  }
  try {
    return new TextDecoder(label ?? "utf-8").decode(bytes);
  } catch {
    return new TextDecoder("utf-8").decode(bytes);
  }
}

/**
 * One attempt at a fetch-mode job: GET with browser-like headers, redirects followed by hand (at
 * most 10, each hop checked by the URL guard, loops detected), the whole attempt bounded by the
 * job's timeout. The request's headers, cookies and user agent go with every hop to its own host
 * and with no other (hopHeaders): following redirects here is what lets each hop be judged.
 */
export async function fetchPage(
  url: string,
  opts: { timeoutMs: number; allowLoopback: boolean; send?: SentOptions },
): Promise<AttemptResult> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("job timeout", "TimeoutError")), opts.timeoutMs);
  const seen = new Set<string>();
  let current = url;
  const requestUrl = new URL(url);
  const fail = (error: string, status_code: number | null = null): AttemptResult => ({
    kind: "final",
    status: "failed",
    status_code,
    final_url: current,
    blocked_reason: null,
    error,
    html: null,
    screenshot: null,
    evaluate_results: null,
    fetch_ms: elapsed(),
    render_ms: null,
  });
  try {
    for (let hop = 0; ; hop++) {
      const refusal = targetRefusal(current, { allowLoopback: opts.allowLoopback });
      if (refusal) return fail(hop === 0 ? refusal : `redirected to a refused target: ${refusal}`);
      seen.add(current);
      const headers = hopHeaders(BROWSER_HEADERS, opts.send ?? {}, requestUrl, new URL(current));
      const res = await fetch(current, { headers, redirect: "manual", signal: controller.signal });
      if (res.status >= 300 && res.status < 400 && res.headers.has("location")) {
        await res.body?.cancel();
        const next = new URL(res.headers.get("location")!, current).href;
        if (seen.has(next)) return fail(`redirect loop at ${next}`, res.status);
        if (hop + 1 > LIMITS.maxRedirects) return fail(`more than ${LIMITS.maxRedirects} redirects`, res.status);
        current = next;
        continue;
      }
      const bytes = await readCapped(res, LIMITS.maxResponseBytes);
      const html = decodeHtml(bytes, res.headers.get("content-type"));
      return classifyResponse({
        status: res.status,
        headers: res.headers,
        html,
        final_url: current,
        fetch_ms: elapsed(),
      });
    }
  } catch (e) {
    if (controller.signal.aborted) {
      return {
        kind: "final",
        status: "timeout",
        status_code: null,
        final_url: current,
        blocked_reason: null,
        error: `the job's ${opts.timeoutMs} ms timeout ran out`,
        html: null,
        screenshot: null,
        evaluate_results: null,
        fetch_ms: elapsed(),
        render_ms: null,
      };
    }
    if (e instanceof BodyTooLarge) return fail(`the response body exceeds ${LIMITS.maxResponseBytes / 1024 / 1024} MB`);
    const message = e instanceof Error ? e.message : String(e);
    return {
      kind: "transient",
      error: `network error: ${message}`,
      status_code: null,
      final_url: current,
      html: null,
      retry_after_s: null,
      fetch_ms: elapsed(),
      render_ms: null,
    };
  } finally {
    clearTimeout(timer);
  }
}
