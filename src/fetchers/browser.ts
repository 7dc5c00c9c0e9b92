import puppeteer, { CDPSessionEvent } from "@cloudflare/puppeteer";
import type { Browser, CDPSession, HTTPResponse, Page } from "@cloudflare/puppeteer";
import { LIMITS, urlGuard } from "../config";
import { count } from "../metrics";
import { browserOptions, type JobMessage } from "../domain";
import { CDP_RESOURCE_TYPES, DEVICE_PROFILES, sameSite } from "../request-options";
import type { Action } from "../schemas";
import { BROWSER_HEADERS } from "./http";
import { classifyResponse, TRANSIENT_STATUSES, type AttemptResult } from "./outcome";

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
/** How long closing a job's browser context may take; past it the browser is closed, not kept. */
const CLOSE_MS = 5_000;

/** Whether p settled successfully within ms. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => false,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

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
 * Runs in every window and worker before the first script of the page (BrowserGuard installs it).
 * It removes the ways out that request interception does not see: WebSocket and WebTransport (no
 * CDP domain pauses their handshakes, and Network.setBlockedURLs does not block them), WebRTC
 * (ICE sends UDP to any address) and the Direct Sockets API (only exposed to isolated web apps in
 * Chrome; listed in case). Service worker registration is refused. window.open returns null, as
 * under a popup blocker, so a page never holds a window that has not been through this script.
 * Each property becomes non-writable and non-configurable: a page cannot put the original back,
 * and every other realm it could take one from (a frame of any origin, a worker) runs this first.
 * Idempotent, since some realms receive it twice.
 */
const REALM_GUARD = `(() => {
  const refused = (name) => function () {
    throw new DOMException(name + " is not available to scraped pages", "SecurityError");
  };
  const lock = (o, name, value) => {
    const d = o && Object.getOwnPropertyDescriptor(o, name);
    if (!d || !d.configurable) return;
    Object.defineProperty(o, name, { value, writable: false, configurable: false, enumerable: d.enumerable });
  };
  for (const name of ["WebSocket", "WebSocketStream", "WebTransport", "RTCPeerConnection",
    "webkitRTCPeerConnection", "RTCIceTransport", "TCPSocket", "UDPSocket", "TCPServerSocket"]) {
    lock(globalThis, name, refused(name));
  }
  lock(globalThis, "open", function () { return null; });
  if (typeof ServiceWorkerContainer === "function") {
    const no = refused("navigator.serviceWorker.register");
    lock(ServiceWorkerContainer.prototype, "register", function () { return new Promise(() => no()); });
  }
})()`;

type Refusal = (url: string) => string | null;

/**
 * What the guard does for the requests of one job's frames: the job's extra headers, which go only
 * to requests to the job URL's own host (sameSite), and the CDP resource types it refuses.
 */
export interface FrameRules {
  requestUrl: URL;
  /** Lower-case names. */
  headers: [string, string][];
  /** The headers' names, for the requests they replace the page's own of. */
  names: Set<string>;
  blocked: Set<string>;
}

type PausedRequest = { url: string; headers: Record<string, string> };

/**
 * The headers to continue a paused request with, or null to leave its own: on the job's host, its
 * own with the extra headers added (replacing the page's of the same name). An override holds for
 * one request only: each redirect hop is paused again and judged by its own URL, so a hop to
 * another host goes on with the page's headers alone.
 */
function guardedHeaders(rules: FrameRules, req: PausedRequest): { name: string; value: string }[] | null {
  if (rules.headers.length === 0) return null;
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return null;
  }
  if (!sameSite(rules.requestUrl, url)) return null;
  const kept = Object.entries(req.headers).filter(([k]) => !rules.names.has(k.toLowerCase()));
  return [...kept, ...rules.headers].map(([name, value]) => ({ name, value }));
}

/**
 * Keeps every page of one browser connection within the URL guard, with means the pages cannot
 * reach. Installed once per connection, before any job's page exists:
 *
 * - Every HTTP(S) request of every target (pages, frames of any origin, popups, dedicated, shared
 *   and service workers) pauses in the browser-level Fetch domain and goes on only when the guard
 *   allows its URL, redirect hops included. Per-page interception, used before, saw neither popups
 *   nor workers.
 * - Popups are refused: a page target with an opener is closed as soon as Chrome reports it, which
 *   it does before the popup's first request, and every request of it is failed meanwhile, so no
 *   popup ever loads a document or runs a script.
 * - WebSockets and WebRTC are refused by REALM_GUARD, installed on each target while it is paused:
 *   the auto-attach of puppeteer holds a new frame or worker target until puppeteer resumes it, and
 *   the connection emits "sessionattached" before puppeteer's own handler of that attach runs.
 * - The frames a job lists in `frames` get that job's request options: its extra headers on
 *   requests to its own host, and its blocked resource types failed before they reach the network.
 *   A frame no job lists (a popup, a worker) gets none.
 *
 * Network.setBypassServiceWorker is not needed: a job's context starts with no service worker and
 * cannot register one. The platform's session guardrails are an allowlist of host names, which
 * cannot express "public addresses only", so they are not used.
 */
class BrowserGuard {
  private popups = new Set<string>();
  /** Frame id → the rules of the job whose page it is in; a frame not listed gets none. */
  readonly frames = new Map<string, FrameRules>();

  private constructor(
    /** A session on the browser target: browser-wide commands go here. */
    readonly cdp: CDPSession,
    private refusal: Refusal,
  ) {}

  static async install(browser: Browser, refusal: Refusal): Promise<BrowserGuard> {
    const cdp = await browser.target().createCDPSession();
    const connection = cdp.connection();
    if (!connection) throw new Error("no browser connection to guard");
    const g = new BrowserGuard(cdp, refusal);
    connection.on(CDPSessionEvent.SessionAttached, g.onSession);
    cdp.on("Target.targetCreated", g.onTarget);
    cdp.on("Target.targetDestroyed", g.onGone);
    cdp.on("Fetch.requestPaused", g.onRequest);
    try {
      await Promise.all([
        cdp.send("Target.setDiscoverTargets", { discover: true }),
        cdp.send("Fetch.enable", { patterns: [{ urlPattern: "*" }] }),
      ]);
    } catch (e) {
      connection.off(CDPSessionEvent.SessionAttached, g.onSession);
      throw e;
    }
    return g;
  }

  /** Detaching ends the interception, and disposes the contexts made through this session. */
  async remove(): Promise<void> {
    this.cdp.connection()?.off(CDPSessionEvent.SessionAttached, this.onSession);
    await this.cdp.detach();
  }

  // Synchronous on purpose: these commands must be on the wire before puppeteer's handler of the same
  // attach resumes the target. Each target understands one of the two; the other fails harmlessly.
  private onSession = (s: CDPSession) => {
    const ignore = () => undefined;
    s.send("Page.addScriptToEvaluateOnNewDocument", { source: REALM_GUARD, runImmediately: true }).catch(ignore);
    s.send("Runtime.evaluate", { expression: REALM_GUARD }).catch(ignore);
  };

  private onTarget = ({ targetInfo: t }: { targetInfo: { targetId: string; type: string; openerId?: string } }) => {
    if (t.type !== "page" || !t.openerId) return;
    this.popups.add(t.targetId);
    this.cdp.send("Target.closeTarget", { targetId: t.targetId }).catch(() => undefined);
  };

  private onGone = ({ targetId }: { targetId: string }) => {
    this.popups.delete(targetId);
  };

  private onRequest = (e: { requestId: string; frameId: string; resourceType: string; request: PausedRequest }) => {
    const url = e.request.url;
    // A page's top-level frame has its target's id.
    const rules = this.frames.get(e.frameId);
    const refuse =
      this.popups.has(e.frameId) ||
      (!/^(data|blob|about):/i.test(url) && this.refusal(url) !== null) ||
      rules?.blocked.has(e.resourceType) === true;
    const { requestId } = e;
    const headers = !refuse && rules ? guardedHeaders(rules, e.request) : null;
    const next = refuse
      ? this.cdp.send("Fetch.failRequest", { requestId, errorReason: "BlockedByClient" })
      : this.cdp.send("Fetch.continueRequest", headers ? { requestId, headers } : { requestId });
    next.catch(() => undefined);
  };
}

/** A browser one batch holds, under its guard. */
export interface BrowserSession {
  browser: Browser;
  /** The guard's session on the browser target. */
  cdp: CDPSession;
  refusal: Refusal;
  /** The guard's per-frame rules: a job lists its frames here while it runs. */
  frames: Map<string, FrameRules>;
  /** Set when a job's context could not be closed: the browser is then closed, not kept. */
  broken: boolean;
}

/**
 * Runs fn with one browser for the whole batch. The browser is disconnected (kept alive for the
 * next batch) when it is healthy, and closed when anything went wrong with it, so no broken or
 * orphaned browser is left behind.
 */
export async function withBrowser<T>(env: Env, fn: (s: BrowserSession) => Promise<T>): Promise<T> {
  const browser = await acquire(env);
  const since = Date.now();
  let guard: BrowserGuard | null = null;
  let session: BrowserSession | null = null;
  let healthy = true;
  try {
    // No page is opened without the guard: failing to install it fails the batch.
    const refusal = urlGuard(env);
    guard = await BrowserGuard.install(browser, refusal);
    session = { browser, cdp: guard.cdp, refusal, frames: guard.frames, broken: false };
    return await fn(session);
  } catch (e) {
    healthy = false;
    throw e;
  } finally {
    count("browser_ms", Date.now() - since);
    if (healthy && guard && session && !session.broken && browser.isConnected()) {
      const id = browser.sessionId();
      try {
        await guard.remove();
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
/** Races a step against the job's remaining time. */
type Within = <T>(p: Promise<T>) => Promise<T>;
const utf8 = new TextEncoder();
type Viewport = { width: number; height: number };

/**
 * A job's own browser context (cookies, storage, cache, permissions, service workers), created
 * with disposeOnDetach: if the Worker dies before the job's `finally`, the browser disposes it,
 * with its pages, when the guard's session goes, so no page outlives the guard either. Created
 * through CDP because puppeteer's createBrowserContext() cannot ask for that; puppeteer then files
 * the job's page under its default context object, which only shares its screenshot queue.
 */
class JobContext {
  private constructor(
    private session: BrowserSession,
    readonly id: string,
  ) {}

  /** A context that arrives after the job gave up waiting for it is disposed on arrival. */
  static async open(session: BrowserSession, within: Within): Promise<JobContext> {
    const pending = session.cdp.send("Target.createBrowserContext", { disposeOnDetach: true });
    try {
      return new JobContext(session, (await within(pending)).browserContextId);
    } catch (e) {
      void pending.then(
        (r) => new JobContext(session, r.browserContextId).close(),
        () => undefined,
      );
      throw e;
    }
  }

  /** The job's page, with its target's id (which is also its main frame's id). */
  async newPage(timeoutMs: number): Promise<{ page: Page; targetId: string }> {
    // The target is found by a URL no page can guess; its id is not public in puppeteer.
    const marker = `about:blank#job-${crypto.randomUUID()}`;
    const [target, created] = await Promise.all([
      this.session.browser.waitForTarget((t) => t.url() === marker, { timeout: timeoutMs }),
      this.session.cdp.send("Target.createTarget", { url: marker, browserContextId: this.id }),
    ]);
    const page = await target.page();
    if (!page) throw new Error("the job's page could not be opened");
    return { page, targetId: created.targetId };
  }

  /** Closes the context with every page in it; a context that will not close condemns the browser. */
  async close(): Promise<void> {
    const done = this.session.cdp.send("Target.disposeBrowserContext", { browserContextId: this.id });
    if (!(await settlesWithin(done, CLOSE_MS))) this.session.broken = true;
  }
}

type FinalResult = Extract<AttemptResult, { kind: "final" }>;

/**
 * One attempt at a browser job, in a browser context of its own: open, navigate, run the actions
 * in order, then capture the HTML (and a screenshot). The job's timeout covers all of it. The main
 * document's last non-redirect response gives the status and headers that block detection and
 * the outcome rules read. Whatever the page sends back is measured in the page first (takeHtml,
 * measuredEvaluate, the screenshot's clip), so nothing over its cap crosses to the Worker.
 */
export async function renderPage(session: BrowserSession, job: JobMessage, budgetMs: number): Promise<AttemptResult> {
  const attempt = new RenderAttempt(session, job, budgetMs);
  try {
    const page = await attempt.open();
    return (await attempt.navigate(page)) ?? (await attempt.runActions(page)) ?? (await attempt.capture(page));
  } catch (e) {
    return attempt.failure(e);
  } finally {
    // Always, whatever ended the job: the context takes the page, its popups and all its state.
    await attempt.close();
  }
}

/** The state of one render: its clock, its page and what the page told us on the way. */
class RenderAttempt {
  private readonly started = Date.now();
  private context: JobContext | null = null;
  private page: Page | null = null;
  private mainResponse: HTTPResponse | null = null;
  private navigations = 0;
  private refused: string | null = null;
  private fetchMs = 0;
  private evaluateResults: unknown[] = [];
  private evaluateBytes = 0;
  /** The frames this job listed in the guard's rules, removed when it closes. */
  private frameIds: string[] = [];
  private closed = false;
  private readonly options: ReturnType<typeof browserOptions>;
  private readonly device: (typeof DEVICE_PROFILES)[keyof typeof DEVICE_PROFILES];

  constructor(
    private session: BrowserSession,
    private job: JobMessage,
    private budgetMs: number,
  ) {
    this.options = browserOptions(job.spec);
    this.device = DEVICE_PROFILES[this.options.device];
  }

  private left = () => this.started + this.budgetMs - Date.now();

  /** Every step races the job's remaining time; losing that race is a timeout, not a failure. */
  private within: Within = async <T>(p: Promise<T>): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expiry = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new OutOfTime()), Math.max(0, this.left()))),
    );
    try {
      return await Promise.race([p, expiry]);
    } finally {
      clearTimeout(timer);
    }
  };

  private final(partial: Partial<FinalResult> & Pick<FinalResult, "status" | "error">): AttemptResult {
    const elapsed = Date.now() - this.started;
    return {
      kind: "final",
      status_code: this.mainResponse?.status() ?? null,
      final_url: this.page?.url() ?? this.job.url,
      blocked_reason: null,
      html: null,
      screenshot: null,
      evaluate_results: this.evaluateResults.length ? this.evaluateResults : null,
      fetch_ms: this.fetchMs || elapsed,
      render_ms: this.fetchMs ? elapsed - this.fetchMs : null,
      ...partial,
    };
  }

  private tooLarge(): AttemptResult {
    return this.final({
      status: "failed",
      error: `the rendered page exceeds ${LIMITS.maxResponseBytes / 1024 / 1024} MB`,
    });
  }

  /** The job's context and page, with the listeners that follow its main document. */
  async open(): Promise<Page> {
    this.context = await JobContext.open(this.session, this.within);
    const { page: p, targetId } = await this.within(this.context.newPage(Math.max(1, this.left())));
    this.page = p;
    const { ua, ...viewport } = this.device;
    await this.within(p.setViewport(viewport));
    await this.within(p.setUserAgent(this.job.spec.user_agent ?? ua ?? BROWSER_HEADERS["user-agent"]));
    await this.within(p.setExtraHTTPHeaders({ "accept-language": BROWSER_HEADERS["accept-language"] }));
    await this.within(this.applyRequestOptions(p, targetId));
    // The guard (BrowserGuard) refuses what the page may not load; this only names why, when
    // what it refused is the page's own navigation (a redirect to a private address, say).
    p.on("requestfailed", (req) => {
      const blocked = /BLOCKED_BY_CLIENT/.test(req.failure()?.errorText ?? "");
      if (!blocked || !req.isNavigationRequest() || req.frame() !== p.mainFrame()) return;
      this.refused = this.session.refusal(req.url()) ?? this.refused;
    });
    p.on("response", (res) => {
      const req = res.request();
      const final = res.status() < 300 || res.status() >= 400;
      if (req.isNavigationRequest() && req.frame() === p.mainFrame() && final) this.mainResponse = res;
    });
    p.on("framenavigated", (f) => {
      if (f === p.mainFrame()) this.navigations++;
    });
    return p;
  }

  /**
   * The job's cookies, set in its own context, where Chrome scopes them by domain and path like any
   * cookie; and its extra headers and blocked resource types, which the guard applies by frame.
   * Page.setExtraHTTPHeaders would send the headers to every host the page loads from, so the
   * guard adds them instead, only to requests to the job URL's host (FrameRules). Frames attached
   * later (iframes) are listed as they attach, before their first request is paused.
   */
  private async applyRequestOptions(p: Page, targetId: string): Promise<void> {
    const spec = this.job.spec;
    const requestUrl = new URL(this.job.url);
    if (spec.cookies?.length) {
      const cookies = spec.cookies.map((c) => ({
        name: c.name,
        value: c.value,
        url: requestUrl.href,
        path: c.path ?? "/",
        ...(c.domain === undefined ? {} : { domain: c.domain }),
      }));
      await p.setCookie(...cookies);
    }
    const headers = Object.entries(spec.headers ?? {}).map(([k, v]): [string, string] => [k.toLowerCase(), v]);
    const blocked = new Set(this.options.block_resources.map((t) => CDP_RESOURCE_TYPES[t]));
    if (headers.length === 0 && blocked.size === 0) return;
    const rules: FrameRules = { requestUrl, headers, names: new Set(headers.map(([k]) => k)), blocked };
    const list = (frameId: string) => {
      // An attach reported after close() would otherwise stay in the guard's map for good.
      if (this.closed) return;
      this.session.frames.set(frameId, rules);
      this.frameIds.push(frameId);
    };
    list(targetId);
    const client = await p.createCDPSession();
    client.on("Page.frameAttached", (e: { frameId: string }) => list(e.frameId));
    await client.send("Page.enable");
  }

  /** Loads the page; an outcome when that already decides the job, null to go on. */
  async navigate(p: Page): Promise<AttemptResult | null> {
    let response: HTTPResponse | null;
    try {
      const waitUntil = this.options.wait_until;
      response = await this.within(p.goto(this.job.url, { waitUntil, timeout: Math.max(1, this.left()) }));
    } catch (e) {
      if (e instanceof OutOfTime || /timeout/i.test(String(e))) throw new OutOfTime();
      const msg = e instanceof Error ? e.message : String(e);
      this.fetchMs = Date.now() - this.started;
      if (this.refused) return this.final({ status: "failed", error: this.refused });
      if (/ERR_TOO_MANY_REDIRECTS/.test(msg)) {
        return this.final({ status: "failed", error: "redirect loop or more than the browser's redirect limit" });
      }
      return {
        kind: "transient",
        error: `navigation failed: ${msg.split("\n")[0]}`,
        status_code: null,
        final_url: this.job.url,
        html: null,
        retry_after_s: null,
        fetch_ms: this.fetchMs,
        render_ms: null,
      };
    }
    this.fetchMs = Date.now() - this.started;
    if (response && response.request().redirectChain().length > LIMITS.maxRedirects) {
      return this.final({ status: "failed", error: `more than ${LIMITS.maxRedirects} redirects` });
    }
    // A transient status before any action: the same rules as fetch mode decide (block or retry).
    if (response && TRANSIENT_STATUSES.has(response.status())) {
      const html = await this.within(takeHtml(p));
      if (html === null) return this.tooLarge();
      const headers = new Headers(Object.entries(response.headers()));
      return classifyResponse({ status: response.status(), headers, html, final_url: p.url(), fetch_ms: this.fetchMs });
    }
    return null;
  }

  /** The job's actions in order; an outcome when one fails, null when all ran. */
  async runActions(p: Page): Promise<AttemptResult | null> {
    let navAtPreviousStart = this.navigations;
    for (const [i, action] of this.job.spec.actions.entries()) {
      const navAtStart = this.navigations;
      const ctx: ActionContext = {
        left: this.left,
        within: this.within,
        navigatedSincePrevious: () => this.navigations > navAtPreviousStart,
        evaluateBudget: () => LIMITS.maxEvaluateResultBytes - this.evaluateBytes,
        keep: (r) => this.keep(r),
      };
      try {
        await runAction(p, action, ctx);
      } catch (e) {
        if (e instanceof OutOfTime) throw e;
        const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
        return this.final({ status: "failed", error: `action ${i} (${action.type}) failed: ${msg}` });
      }
      navAtPreviousStart = navAtStart;
    }
    return null;
  }

  private keep(r: Measured) {
    // Measured again here: the page's own count used its TextEncoder, which it can replace.
    const bytes = typeof r.json === "string" ? utf8.encode(r.json).byteLength : Number(r.bytes) || 0;
    if (typeof r.json !== "string" || bytes > LIMITS.maxEvaluateResultBytes - this.evaluateBytes) {
      this.evaluateResults.push({ truncated: true, bytes });
    } else {
      this.evaluateBytes += bytes;
      this.evaluateResults.push(JSON.parse(r.json));
    }
  }

  /** The rendered page (and its screenshot), judged by the outcome rules. */
  async capture(p: Page): Promise<AttemptResult> {
    // The same cap as fetch mode: a page this large would not fit a batch's memory or a pack.
    const html = await this.within(takeHtml(p));
    if (html === null) return this.tooLarge();
    const screenshot = this.job.spec.screenshot
      ? await this.within(takeScreenshot(p, this.job.spec.full_page, this.device))
      : null;
    const res = this.mainResponse;
    const headers = new Headers(Object.entries(res?.headers() ?? {}));
    const render_ms = Date.now() - this.started - this.fetchMs;
    const seen = classifyResponse({
      status: res?.status() ?? 200,
      headers,
      html,
      final_url: p.url(),
      fetch_ms: this.fetchMs,
      render_ms,
    });
    if (seen.kind === "transient") return seen;
    return { ...seen, screenshot, evaluate_results: this.evaluateResults.length ? this.evaluateResults : null };
  }

  failure(e: unknown): AttemptResult {
    if (e instanceof OutOfTime)
      return this.final({ status: "timeout", error: `the job's ${this.budgetMs} ms timeout ran out` });
    const msg = e instanceof Error ? e.message : String(e);
    // The browser or its connection broke: worth another attempt with a fresh browser.
    return {
      kind: "transient",
      error: `browser error: ${msg.split("\n")[0]}`,
      status_code: null,
      final_url: this.job.url,
      html: null,
      retry_after_s: null,
      fetch_ms: Date.now() - this.started,
      render_ms: null,
    };
  }

  async close() {
    this.closed = true;
    for (const id of this.frameIds) this.session.frames.delete(id);
    if (this.context) await this.context.close();
  }
}

/**
 * The page's HTML as puppeteer's content() serialises it, or null when it is over
 * LIMITS.maxResponseBytes, measured in the page so that an oversized page is never transferred.
 * A string's length cannot be faked and UTF-8 takes 1-3 bytes per UTF-16 unit, so at most the cap
 * in units can cross; the exact bytes are counted again here, as the page's TextEncoder is its own.
 */
async function takeHtml(p: Page): Promise<string | null> {
  const cap = LIMITS.maxResponseBytes;
  const r = await p.evaluate<[], () => { html: string } | { over: number }>(`((cap) => {
  let html = "";
  for (const node of document.childNodes) {
    html += node === document.documentElement ? node.outerHTML : new XMLSerializer().serializeToString(node);
  }
  if (html.length > cap) return { over: html.length };
  if (html.length * 3 > cap) {
    const bytes = new TextEncoder().encode(html).byteLength;
    if (bytes > cap) return { over: bytes };
  }
  return { html };
})(${cap})`);
  if (!("html" in r) || typeof r.html !== "string") return null;
  return r.html.length * 3 > cap && utf8.encode(r.html).byteLength > cap ? null : r.html;
}

/**
 * A PNG of the viewport, or of the whole page clipped to LIMITS.maxScreenshotHeightPx, its
 * height measured in the page first: Chrome's own full-page capture has no bound, and a page can
 * be any height (or width: the clip keeps the viewport's width). In CSS pixels: the image is the
 * device scale factor times larger.
 */
async function takeScreenshot(p: Page, fullPage: boolean, viewport: Viewport): Promise<Uint8Array> {
  let clip: { x: number; y: number; width: number; height: number } | undefined;
  if (fullPage) {
    const h = await p.evaluate<[], () => number>(
      "Math.max(document.documentElement?.scrollHeight ?? 0, document.body?.scrollHeight ?? 0)",
    );
    const height = Math.max(1, Math.min(LIMITS.maxScreenshotHeightPx, Math.ceil(Number(h) || viewport.height)));
    clip = { x: 0, y: 0, width: viewport.width, height };
  }
  return new Uint8Array((await p.screenshot({ type: "png", clip, captureBeyondViewport: fullPage })) as Uint8Array);
}

/**
 * An `evaluate` action's script (an expression, or statements with a `return`) wrapped so the page
 * serialises its value, measures it against what is left of the job's budget and hands back either
 * the JSON or only its size. The script is an argument, so it sees none of the wrapper's names.
 */
function measuredEvaluate(body: string, budget: number): string {
  return `(async (run, budget) => {
  const value = await run();
  const json = JSON.stringify(value === undefined ? null : value);
  const text = typeof json === "string" ? json : "null";
  if (text.length > budget || (text.length * 3 > budget && new TextEncoder().encode(text).byteLength > budget)) {
    return { bytes: new TextEncoder().encode(text).byteLength };
  }
  return { json: text };
})(async () => ${body}, ${Math.max(0, budget)})`;
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
  within: Within;
  /** Whether the main frame navigated since the previous action started (a click that navigates). */
  navigatedSincePrevious: () => boolean;
  /** Bytes of evaluate results the job may still keep. */
  evaluateBudget: () => number;
  keep: (r: Measured) => void;
}

/** What measuredEvaluate hands back: the value's JSON, or only its size when it is over the budget. */
type Measured = { json: string; bytes?: undefined } | { json?: undefined; bytes: number };

/**
 * Each action type's step. An action's own timeout, when shorter than what the job has left, fails
 * the action; the job's budget running out first is a timeout of the job.
 */
const ACTIONS: {
  [K in Action["type"]]: (p: Page, a: Extract<Action, { type: K }>, ctx: ActionContext) => Promise<void>;
} = {
  "wait-for-timeout": async (_p, a, { left }) => {
    if (a.time > left()) {
      await sleep(Math.max(0, left()));
      throw new OutOfTime();
    }
    await sleep(a.time);
  },
  "wait-for-selector": async (p, a, { within, left }) => {
    const short = ownIsShorter(a.timeout, left);
    try {
      await within(p.waitForSelector(a.selector, { timeout: own(a.timeout, left) }));
    } catch {
      if (!short) throw new OutOfTime();
      throw new ActionFailed(`"${a.selector}" did not appear within ${a.timeout} ms`);
    }
  },
  click: async (p, a, { within }) => {
    const el = await within(p.$(a.selector));
    if (!el) throw new ActionFailed(`no element matches "${a.selector}"`);
    await within(el.click());
  },
  fill: async (p, a, { within }) => {
    const el = await within(p.$(a.selector));
    if (!el) throw new ActionFailed(`no element matches "${a.selector}"`);
    await within(
      el.evaluate((node) => {
        (node as unknown as { value: string }).value = "";
      }),
    );
    await within(el.type(a.value));
  },
  press: async (p, a, { within }) => {
    await within(p.keyboard.press(a.key as Parameters<Page["keyboard"]["press"]>[0]));
  },
  scroll: async (p, a, { within, left }) => {
    if (a.amount !== "bottom") {
      const by = (a.direction === "up" ? -1 : 1) * (a.amount ?? 800);
      await within(p.evaluate(`window.scrollBy(0, ${by}); window.dispatchEvent(new Event("scroll"))`));
      return;
    }
    // Infinite-scroll pages grow as they are scrolled: keep going until the height settles.
    let last = -1;
    for (let i = 0; i < 20 && left() > 0; i++) {
      const h = await within(p.evaluate<[], () => number>(SCROLL_TO_BOTTOM));
      if (h === last) break;
      last = h;
      await sleep(Math.min(400, Math.max(0, left())));
    }
  },
  evaluate: async (p, a, { within, evaluateBudget, keep }) => {
    // An expression, or statements with a `return`; a returned promise is awaited.
    const run = (body: string) => within(p.evaluate<[], () => Measured>(measuredEvaluate(body, evaluateBudget())));
    let r: Measured;
    try {
      r = await run(`(${a.script}\n)`);
    } catch (e) {
      if (e instanceof OutOfTime) throw e;
      if (!/SyntaxError|Unexpected token/i.test(String(e))) throw e;
      r = await run(`{ ${a.script}\n }`);
    }
    keep(r);
  },
  "wait-for-navigation": async (p, a, { within, left, navigatedSincePrevious }) => {
    const short = ownIsShorter(a.timeout, left);
    try {
      if (navigatedSincePrevious()) {
        // The navigation already started (a click that navigates): wait for that document to load
        // rather than for a next navigation that never comes.
        await within(p.waitForFunction('document.readyState === "complete"', { timeout: own(a.timeout, left) }));
      } else {
        await within(p.waitForNavigation({ timeout: own(a.timeout, left), waitUntil: "load" }));
      }
    } catch (e) {
      if (e instanceof OutOfTime || !short) throw new OutOfTime();
      throw new ActionFailed(`no navigation within ${a.timeout} ms`);
    }
  },
};

const own = (t: number | undefined, left: () => number) => Math.max(1, Math.min(t ?? Infinity, left()));
const ownIsShorter = (t: number | undefined, left: () => number) => t !== undefined && t < left();

function runAction(p: Page, a: Action, ctx: ActionContext): Promise<void> {
  return (ACTIONS[a.type] as (p: Page, a: Action, ctx: ActionContext) => Promise<void>)(p, a, ctx);
}
