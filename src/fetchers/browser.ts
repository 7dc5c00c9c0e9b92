import puppeteer, { type Browser, type HTTPResponse, type Page } from "@cloudflare/puppeteer";
import { LIMITS } from "../config";
import { count } from "../metrics";
import type { JobMessage } from "../domain";
import type { Action } from "../schemas";
import { BROWSER_HEADERS } from "./http";
import { detectBlock } from "./block-detector";
import { classify, TRANSIENT_STATUSES, type AttemptResult } from "./outcome";
import { targetRefusal } from "./url-guard";

/** No browser could be had now (launch rate or concurrency limit): retry later, not a job failure. */
export class BrowserUnavailable extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 10) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** How long an idle browser session stays alive for the next batch to reuse (platform max 10 min). */
const KEEP_ALIVE_MS = 600_000;
/** Sessions this isolate disconnected from and may connect to again. */
const released: string[] = [];


async function acquire(env: Env): Promise<Browser> {
  // Reuse first: every launch counts against the account's launch rate, and a warm browser
  // saves its start-up time.
  while (released.length) {
    const id = released.pop()!;
    try {
      const b = await puppeteer.connect(env.BROWSER, id);
      count("browser_reuses");
      return b;
    } catch {
      // gone (idle timeout, closed): try the next one
    }
  }
  try {
    const sessions = await puppeteer.sessions(env.BROWSER);
    for (const s of sessions) {
      if (s.connectionId) continue;
      try {
        const b = await puppeteer.connect(env.BROWSER, s.sessionId);
        count("browser_reuses");
        return b;
      } catch {
        // taken by another invocation in the meantime
      }
    }
  } catch {
    // listing sessions is an optimisation only
  }
  try {
    const b = await puppeteer.launch(env.BROWSER, { keep_alive: KEEP_ALIVE_MS });
    count("browser_launches");
    return b;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/429|rate limit|too many|concurren|limit/i.test(msg)) throw new BrowserUnavailable(msg, 10);
    throw new BrowserUnavailable(`browser launch failed: ${msg}`, 5);
  }
}

/**
 * Runs fn with one browser for the whole batch. The browser is disconnected (kept alive for the
 * next batch) when it is healthy, and closed when anything went wrong with it, so no broken or
 * orphaned browser is left behind.
 */
export async function withBrowser<T>(env: Env, fn: (b: Browser) => Promise<T>): Promise<T> {
  const browser = await acquire(env);
  const since = Date.now();
  let healthy = true;
  try {
    return await fn(browser);
  } catch (e) {
    healthy = false;
    throw e;
  } finally {
    count("browser_ms", Date.now() - since);
    if (healthy && browser.isConnected()) {
      const id = browser.sessionId();
      try {
        await browser.disconnect();
        released.push(id);
      } catch {
        await browser.close().catch(() => undefined);
      }
    } else {
      await browser.close().catch(() => undefined);
    }
  }
}

class ActionFailed extends Error {}
class OutOfTime extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One attempt at a browser job: navigate, run the actions in order, then take the HTML (and a
 * screenshot). The job's timeout covers all of it. The main document's last non-redirect response
 * gives the status and headers that block detection and the outcome rules read.
 */
export async function renderPage(browser: Browser, job: JobMessage, budgetMs: number, allowLoopback: boolean): Promise<AttemptResult> {
  const started = Date.now();
  const deadline = started + budgetMs;
  const left = () => deadline - Date.now();
  let page: Page | null = null;
  let mainResponse: HTTPResponse | null = null;
  let navigations = 0;
  let refused: string | null = null;
  let fetchMs = 0;
  const evaluateResults: unknown[] = [];
  let evaluateBytes = 0;
  const final = (partial: Partial<Extract<AttemptResult, { kind: "final" }>> & Pick<Extract<AttemptResult, { kind: "final" }>, "status" | "error">): AttemptResult => ({
    kind: "final", status_code: mainResponse?.status() ?? null, final_url: page?.url() ?? job.url, blocked_reason: null,
    html: null, screenshot: null, evaluate_results: evaluateResults.length ? evaluateResults : null,
    fetch_ms: fetchMs || Date.now() - started, render_ms: fetchMs ? Date.now() - started - fetchMs : null, ...partial,
  });

  // Every step races the job's remaining time; losing that race is a timeout, not a failure.
  const within = async <T>(p: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expiry = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new OutOfTime()), Math.max(0, left()))));
    try {
      return await Promise.race([p, expiry]);
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    page = await within(browser.newPage());
    const p = page;
    await within(p.setViewport({ width: 1280, height: 800 }));
    await within(p.setUserAgent(BROWSER_HEADERS["user-agent"]));
    await within(p.setExtraHTTPHeaders({ "accept-language": BROWSER_HEADERS["accept-language"] }));
    // The URL guard applies to everything the page loads (redirects, frames, subresources), so a
    // page cannot reach private addresses through the browser either.
    await within(p.setRequestInterception(true));
    p.on("request", (req) => {
      const url = req.url();
      if (/^(data|blob|about):/i.test(url)) return void req.continue().catch(() => undefined);
      const why = targetRefusal(url, { allowLoopback });
      if (why) {
        if (req.isNavigationRequest() && req.frame() === p.mainFrame()) refused = why;
        return void req.abort("blockedbyclient").catch(() => undefined);
      }
      req.continue().catch(() => undefined);
    });
    p.on("response", (res) => {
      const req = res.request();
      if (req.isNavigationRequest() && req.frame() === p.mainFrame() && (res.status() < 300 || res.status() >= 400)) mainResponse = res;
    });
    p.on("framenavigated", (f) => {
      if (f === p.mainFrame()) navigations++;
    });

    let response: HTTPResponse | null;
    try {
      response = await within(p.goto(job.url, { waitUntil: "load", timeout: Math.max(1, left()) }));
    } catch (e) {
      if (e instanceof OutOfTime || /timeout/i.test(String(e))) throw new OutOfTime();
      const msg = e instanceof Error ? e.message : String(e);
      fetchMs = Date.now() - started;
      if (refused) return final({ status: "failed", error: refused });
      if (/ERR_TOO_MANY_REDIRECTS/.test(msg)) return final({ status: "failed", error: "redirect loop or more than the browser's redirect limit" });
      return { kind: "transient", error: `navigation failed: ${msg.split("\n")[0]}`, status_code: null, final_url: job.url, html: null, retry_after_s: null, fetch_ms: fetchMs, render_ms: null };
    }
    fetchMs = Date.now() - started;
    if (response && response.request().redirectChain().length > LIMITS.maxRedirects) {
      return final({ status: "failed", error: `more than ${LIMITS.maxRedirects} redirects` });
    }
    if (response && TRANSIENT_STATUSES.has(response.status())) {
      const html = await within(p.content());
      const headers = new Headers(Object.entries(response.headers()));
      if (detectBlock({ status: response.status(), headers, body: html })) {
        return { ...classify({ status: response.status(), headers, html, final_url: p.url(), fetch_ms: fetchMs }), screenshot: null, evaluate_results: null };
      }
      return { kind: "transient", error: `the target answered HTTP ${response.status()}`, status_code: response.status(), final_url: p.url(), html,
        retry_after_s: Number(response.headers()["retry-after"]) || null, fetch_ms: fetchMs, render_ms: null };
    }

    let navAtPreviousStart = navigations;
    for (const [i, action] of job.spec.actions.entries()) {
      const navAtStart = navigations;
      const ctx: ActionContext = {
        left,
        within,
        navigatedSincePrevious: () => navigations > navAtPreviousStart,
        keep: (v) => {
          const size = JSON.stringify(v ?? null).length;
          evaluateBytes += size;
          evaluateResults.push(evaluateBytes <= LIMITS.maxEvaluateResultBytes ? (v ?? null) : { truncated: true, bytes: size });
        },
      };
      try {
        await runAction(p, action, ctx);
      } catch (e) {
        if (e instanceof OutOfTime) throw e;
        const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
        return final({ status: "failed", error: `action ${i} (${action.type}) failed: ${msg}` });
      }
      navAtPreviousStart = navAtStart;
    }

    const html = await within(p.content());
    // The same cap as fetch mode: a page this large would not fit a batch's memory or a pack.
    // UTF-8 takes at most 3 bytes per UTF-16 unit, so only a page over a third of the cap is encoded to measure it.
    const cap = LIMITS.maxResponseBytes;
    if (html.length > cap || (html.length > cap / 3 && new TextEncoder().encode(html).byteLength > cap)) {
      return final({ status: "failed", error: `the rendered page exceeds ${LIMITS.maxResponseBytes / 1024 / 1024} MB` });
    }
    const screenshot = job.spec.screenshot ? ((await within(p.screenshot({ type: "png", fullPage: job.spec.full_page }))) as Uint8Array) : null;
    const res = mainResponse as HTTPResponse | null;
    const status = res?.status() ?? 200;
    const headers = new Headers(Object.entries(res?.headers() ?? {}));
    return {
      ...classify({ status, headers, html, final_url: p.url(), fetch_ms: fetchMs, render_ms: Date.now() - started - fetchMs }),
      screenshot: screenshot ? new Uint8Array(screenshot) : null,
      evaluate_results: evaluateResults.length ? evaluateResults : null,
    };
  } catch (e) {
    if (e instanceof OutOfTime) return final({ status: "timeout", error: `the job's ${budgetMs} ms timeout ran out` });
    const msg = e instanceof Error ? e.message : String(e);
    // The browser or its connection broke: worth another attempt with a fresh browser.
    return { kind: "transient", error: `browser error: ${msg.split("\n")[0]}`, status_code: null, final_url: job.url, html: null, retry_after_s: null, fetch_ms: Date.now() - started, render_ms: null };
  } finally {
    if (page) await page.close().catch(() => undefined);
  }
}

// Page-side scripts as strings: they run in the page, where the Worker's types do not apply.
// The synthetic scroll event matters: pages rendered side by side in one browser are background
// tabs, whose real scroll events wait for animation frames that background tabs do not get.
const SCROLL_TO_BOTTOM = `(() => {
  const el = document.scrollingElement || document.documentElement;
  window.scrollTo(0, el.scrollHeight);
  window.dispatchEvent(new Event("scroll"));
  return el.scrollHeight;
})()`;

interface ActionContext {
  left: () => number;
  within: <T>(p: Promise<T>) => Promise<T>;
  /** Whether the main frame navigated since the previous action started (a click that navigates). */
  navigatedSincePrevious: () => boolean;
  keep: (v: unknown) => void;
}

async function runAction(p: Page, a: Action, { left, within, navigatedSincePrevious, keep }: ActionContext): Promise<void> {
  // An action's own timeout, when shorter than what the job has left, fails the action; the job's
  // budget running out first is a timeout of the job.
  const own = (t: number | undefined) => Math.max(1, Math.min(t ?? Infinity, left()));
  const ownIsShorter = (t: number | undefined) => t !== undefined && t < left();
  switch (a.type) {
    case "wait-for-timeout":
      if (a.time > left()) {
        await sleep(Math.max(0, left()));
        throw new OutOfTime();
      }
      await sleep(a.time);
      return;
    case "wait-for-selector": {
      const short = ownIsShorter(a.timeout);
      try {
        await within(p.waitForSelector(a.selector, { timeout: own(a.timeout) }));
      } catch {
        if (!short) throw new OutOfTime();
        throw new ActionFailed(`"${a.selector}" did not appear within ${a.timeout} ms`);
      }
      return;
    }
    case "click": {
      const el = await within(p.$(a.selector));
      if (!el) throw new ActionFailed(`no element matches "${a.selector}"`);
      await within(el.click());
      return;
    }
    case "fill": {
      const el = await within(p.$(a.selector));
      if (!el) throw new ActionFailed(`no element matches "${a.selector}"`);
      await within(el.evaluate((node) => {
        (node as unknown as { value: string }).value = "";
      }));
      await within(el.type(a.value));
      return;
    }
    case "press":
      await within(p.keyboard.press(a.key as Parameters<Page["keyboard"]["press"]>[0]));
      return;
    case "scroll": {
      const sign = a.direction === "up" ? -1 : 1;
      if (a.amount === "bottom") {
        // Infinite-scroll pages grow as they are scrolled: keep going until the height settles.
        let last = -1;
        for (let i = 0; i < 20 && left() > 0; i++) {
          const h = await within(p.evaluate<[], () => number>(SCROLL_TO_BOTTOM));
          if (h === last) break;
          last = h;
          await sleep(Math.min(400, Math.max(0, left())));
        }
      } else {
        await within(p.evaluate(`window.scrollBy(0, ${sign * (a.amount ?? 800)}); window.dispatchEvent(new Event("scroll"))`));
      }
      return;
    }
    case "evaluate": {
      // An expression, or statements with a `return`; a returned promise is awaited.
      let v: unknown;
      try {
        v = await within(p.evaluate(`(async () => (${a.script}\n))()`));
      } catch (e) {
        if (e instanceof OutOfTime) throw e;
        if (!/SyntaxError|Unexpected token/i.test(String(e))) throw e;
        v = await within(p.evaluate(`(async () => { ${a.script}\n })()`));
      }
      keep(v);
      return;
    }
    case "wait-for-navigation": {
      const short = ownIsShorter(a.timeout);
      try {
        if (navigatedSincePrevious()) {
          // The navigation already started (a click that navigates): wait for that document to load
          // rather than for a next navigation that never comes.
          await within(p.waitForFunction('document.readyState === "complete"', { timeout: own(a.timeout) }));
        } else {
          await within(p.waitForNavigation({ timeout: own(a.timeout), waitUntil: "load" }));
        }
      } catch (e) {
        if (e instanceof OutOfTime || !short) throw new OutOfTime();
        throw new ActionFailed(`no navigation within ${a.timeout} ms`);
      }
      return;
    }
  }
}
