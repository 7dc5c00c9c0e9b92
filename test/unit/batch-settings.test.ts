/**
 * The consumers' batch sizes live in wrangler.toml; the code that records, paces and bounds a batch
 * has its own constants for them. These must agree, or a browser batch is recorded with two DO calls,
 * a run's window starves the consumer's batch, or a batch's last pages go back to the queue unstarted.
 */
import { describe, expect, it } from "vitest";
import { consumerSettings } from "../../bench/capacity";
import { PACING } from "../../src/do/pacing";
import { START_GRACE_MS } from "../../src/queue/consume";
import { BROWSER_FLUSH, FETCH_FLUSH } from "../../src/queue/recorder";
import { ScrapeRequest } from "../../src/schemas";

const files = import.meta.glob<string>("../../wrangler.toml", { query: "?raw", import: "default", eager: true });
const toml = Object.values(files)[0];
const pagesPerBrowser = Number(/BROWSER_PAGE_CONCURRENCY = "(\d+)"/.exec(toml)?.[1]);
const s = consumerSettings(toml, 6, pagesPerBrowser);
/** The page times the production model assumes (README, Capacity). */
const FETCH_PAGE_MS = 500;
const BROWSER_PAGE_MS = 3_000;
/** The longest job timeout a request may ask for. */
const MAX_TIMEOUT_MS = 120_000;
/** A queue consumer invocation's wall-clock limit. */
const INVOCATION_MS = 15 * 60_000;

describe("batch settings agree with wrangler.toml", () => {
  it("records a browser batch with one record() and keeps one browser batch released", () => {
    expect(BROWSER_FLUSH.size).toBe(s.browserBatch);
    expect(PACING.minBrowserWindow).toBe(s.browserBatch);
    expect(PACING.minWindow).toBe(s.fetchBatch);
    expect(FETCH_FLUSH.size).toBeLessThanOrEqual(s.fetchBatch);
  });

  it("starts every job of a full batch of model pages within its grace", () => {
    const lastStart = (batch: number, parallel: number, pageMs: number) => (Math.ceil(batch / parallel) - 1) * pageMs;
    expect(lastStart(s.fetchBatch, s.fetchConnections, FETCH_PAGE_MS)).toBeLessThan(START_GRACE_MS.fetch);
    expect(lastStart(s.browserBatch, pagesPerBrowser, BROWSER_PAGE_MS)).toBeLessThan(START_GRACE_MS.browser);
  });

  it("ends any batch well inside an invocation's 15 minutes", () => {
    const url = "https://example.com/";
    expect(ScrapeRequest.safeParse({ url, timeout: MAX_TIMEOUT_MS }).success).toBe(true);
    expect(ScrapeRequest.safeParse({ url, timeout: MAX_TIMEOUT_MS + 1 }).success).toBe(false);
    for (const [grace, flush] of [
      [START_GRACE_MS.fetch, FETCH_FLUSH.ms],
      [START_GRACE_MS.browser, BROWSER_FLUSH.ms],
    ]) {
      expect(grace + MAX_TIMEOUT_MS + flush).toBeLessThan(INVOCATION_MS / 3);
    }
  });
});
