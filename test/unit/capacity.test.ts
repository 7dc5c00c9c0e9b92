/** The README's capacity table is this arithmetic over measured figures: it must put each limit over the right use. */
import { describe, expect, it } from "vitest";
import { capacityRows, ceiling, consumerSettings, human, type Measured } from "../../bench/capacity";

const measured: Measured = {
  d1BytesPerRun: 400,
  d1BytesPerJob: 0.04,
  d1BytesPerRequest: 150,
  doBytesPerJob: 500,
  d1StatementsPerJob: 0.02,
  d1StatementsPerRunSecond: 1,
  d1StatementsPerStatusGet: 1,
  doRequestsPerJob: 0.05,
  queueMessagesPerJob: 1.25,
  browserSecondsPerPage: 2,
  browserLaunchesPerPage: 0.1,
};
const settings = {
  fetchConsumers: 20,
  fetchBatch: 50,
  fetchConnections: 6,
  browserConsumers: 4,
  browserBatch: 12,
  pagesPerBrowser: 3,
};
const row = (resource: string) => capacityRows(measured, settings).find((r) => r.resource === resource)!;

describe("capacity", () => {
  it("rounds to three significant digits with k / M / G", () => {
    const cases = [
      [0.0375, "0.0375"],
      [999, "999"],
      [1_234, "1.23 k"],
      [2e7, "20 M"],
      [2.88e9, "2.88 G"],
    ] as const;
    for (const [n, text] of cases) expect(human(n)).toBe(text);
    expect(human(Infinity)).toBe("unbounded");
    expect(ceiling(1_000, 0)).toBe(Infinity);
  });

  it("divides each documented limit by the measured use", () => {
    // 10 GB over 500 B per job; 10 GB over 400 B per run kept 90 days; 10 GB over 150 B per request.
    expect(row("Run object storage").ceiling).toContain("largest run 20 M jobs");
    expect(row("D1 storage").ceiling).toContain("278 k runs a day");
    expect(row("D1 storage").ceiling).toContain("66.7 M stored requests");
    // 1,000 queries/s over 0.02 per job, 1 per run-second, 1 per status GET.
    expect(row("D1 throughput").ceiling).toBe(
      "each alone: 50 k jobs/s (4.32 G a day); 1 k runs in progress; 1 k API requests/s",
    );
    expect(row("Run object requests").ceiling).toContain("one run: 20 k jobs/s");
    expect(row("Queue throughput").ceiling).toContain("4 k jobs/s (346 M a day)");
    // 120 browsers over 2 browser-seconds per page; 1 launch/s over 0.1 launches per page; 4 consumers.
    expect(row("Browsers").ceiling).toBe(
      "60 pages/s at 120 browsers; launches allow 10 pages/s; wrangler.toml's 4 consumers: 2 pages/s",
    );
    const consumers = row("Queue consumers").use;
    expect(consumers).toContain("fetch 20 × 6 connections = 120 pages in flight; browser 4 × 3 pages = 12");
  });

  it("reads each consumer's settings from its own table in wrangler.toml", () => {
    const toml = `[[queues.producers]]
binding = "JOBS"
queue = "scrape-jobs"

[[queues.consumers]]
queue = "scrape-jobs"
max_batch_size = 50
max_concurrency = 20

[[queues.producers]]
binding = "BROWSER_JOBS"
queue = "scrape-browser-jobs"

[[queues.consumers]]
queue = "scrape-browser-jobs"
max_batch_size = 12
max_concurrency = 4
`;
    expect(consumerSettings(toml, 6, 3)).toEqual(settings);
    const noBrowserConcurrency = toml.replace("max_concurrency = 4", "");
    expect(() => consumerSettings(noBrowserConcurrency, 6, 3)).toThrow(/max_concurrency for the scrape-browser-jobs/);
  });
});
