/**
 * The consumers' batch sizes live in wrangler.toml; the code that records, paces and bounds a batch
 * has its own constants for them. These must agree, or a browser batch is recorded with two DO calls,
 * a run's window starves the consumer's batch, or a batch's last pages go back to the queue unstarted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumerSettings } from "../../bench/capacity";
import { PACING } from "../../src/do/pacing";
import { browserPlan, FETCH_PLAN } from "../../src/queue/consume";
import { ScrapeRequest } from "../../src/schemas";
import { LATE_WRITES_MS } from "../../src/storage/deletion";

const files = import.meta.glob<string>("../../wrangler.toml", { query: "?raw", import: "default", eager: true });
const toml = Object.values(files)[0];
const pagesPerBrowser = Number(/BROWSER_PAGE_CONCURRENCY = "(\d+)"/.exec(toml)?.[1]);
const s = consumerSettings(toml, FETCH_PLAN.parallelism, pagesPerBrowser);
const browser = browserPlan({ ...(env as Env), BROWSER_PAGE_CONCURRENCY: String(pagesPerBrowser) });
/** The page times the production model assumes (README, Capacity). */
const FETCH_PAGE_MS = 500;
const BROWSER_PAGE_MS = 3_000;
/** The longest job timeout a request may ask for. */
const MAX_TIMEOUT_MS = 120_000;
/** A queue consumer invocation's wall-clock limit. */
const INVOCATION_MS = 15 * 60_000;

describe("batch settings agree with wrangler.toml", () => {
  it("records a browser batch with one record() and keeps one browser batch released", () => {
    expect(browser.parallelism).toBe(pagesPerBrowser);
    expect(browser.flush.size).toBe(s.browserBatch);
    expect(PACING.minBrowserWindow).toBe(s.browserBatch);
    expect(PACING.minWindow).toBe(s.fetchBatch);
    expect(FETCH_PLAN.flush.size).toBeLessThanOrEqual(s.fetchBatch);
  });

  it("starts every job of a full batch of model pages within its grace", () => {
    const lastStart = (batch: number, parallel: number, pageMs: number) => (Math.ceil(batch / parallel) - 1) * pageMs;
    expect(lastStart(s.fetchBatch, FETCH_PLAN.parallelism, FETCH_PAGE_MS)).toBeLessThan(FETCH_PLAN.graceMs);
    expect(lastStart(s.browserBatch, browser.parallelism, BROWSER_PAGE_MS)).toBeLessThan(browser.graceMs);
    // A fetch batch of hanging pages holds its consumer for about one timeout (test/fairness.test.ts).
    expect(FETCH_PLAN.graceMs).toBeLessThan(browser.graceMs);
  });

  it("ends any batch before a deleted collection's pages are removed, far inside an invocation's 15 minutes", () => {
    const url = "https://example.com/";
    expect(ScrapeRequest.safeParse({ url, timeout: MAX_TIMEOUT_MS }).success).toBe(true);
    expect(ScrapeRequest.safeParse({ url, timeout: MAX_TIMEOUT_MS + 1 }).success).toBe(false);
    for (const plan of [FETCH_PLAN, browser]) {
      // The last write a consumer may make for a run: its last job's start, timeout and flush.
      expect(plan.graceMs + MAX_TIMEOUT_MS + plan.flush.ms).toBeLessThan(LATE_WRITES_MS);
    }
    expect(LATE_WRITES_MS).toBeLessThan(INVOCATION_MS / 2);
  });
});
