/**
 * The capacity table: what each store and service holds per job (measured by the bench) against
 * Cloudflare's documented limits, and the ceiling that implies. Pure, so the arithmetic is
 * table-tested; the limits are kept here with their pages and the date they were read, because
 * they change (Browser Rendering's have been raised several times).
 *
 * Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */

export const LIMITS_CHECKED = "2026-11-29";

export const CLOUDFLARE_LIMITS = {
  /** 10 GB per database, not raisable. */
  d1Bytes: 10e9,
  /** One query at a time per database: about 1,000 queries/s when each takes 1 ms. */
  d1QueriesPerSecond: 1_000,
  /** SQLite storage per Durable Object. */
  doBytes: 10e9,
  /** Soft limit of requests per second to one object. */
  doRequestsPerSecond: 1_000,
  queueMessagesPerSecond: 5_000,
  /** Concurrent consumer invocations per queue (push consumers). */
  queueConsumers: 250,
  /** Workers Paid, per account. */
  browsersConcurrent: 120,
  browserLaunchesPerSecond: 1,
} as const;

export const LIMIT_SOURCES = {
  d1: "https://developers.cloudflare.com/d1/platform/limits/",
  durableObjects: "https://developers.cloudflare.com/durable-objects/platform/limits/",
  queues: "https://developers.cloudflare.com/queues/platform/limits/",
  browser: "https://developers.cloudflare.com/browser-run/limits/",
} as const;

/** Run and job metadata is kept this long after a run completes. */
export const RETENTION_DAYS = 90;

export type Measured = {
  /** Bytes one run adds to D1 (its row and index entries), and bytes per job of that run. */
  d1BytesPerRun: number;
  d1BytesPerJob: number;
  /** Bytes per stored request of a collection (D1 `requests`). */
  d1BytesPerRequest: number;
  /** Bytes of a run's object per job (the whole SQLite database over the run's jobs). */
  doBytesPerJob: number;
  /** Fetch jobs, the client's status polls excluded. */
  d1StatementsPerJob: number;
  /** D1 statements per second while one run is in progress (mostly its counter sync). */
  d1StatementsPerRunSecond: number;
  /** D1 statements behind one status GET. */
  d1StatementsPerStatusGet: number;
  /** Billed requests to the run's object per fetch job: calls and alarms, polls excluded. */
  doRequestsPerJob: number;
  queueMessagesPerJob: number;
  browserSecondsPerPage: number;
  browserLaunchesPerPage: number;
};

/** What wrangler.toml and the consumer set for production. */
export type Settings = {
  fetchConsumers: number;
  fetchBatch: number;
  fetchConnections: number;
  browserConsumers: number;
  browserBatch: number;
  pagesPerBrowser: number;
};

export type CapacityRow = { resource: string; limit: string; use: string; ceiling: string; beyond: string };

const DAY = 86_400;

/** Rounded for a table: 3 significant digits, with k / M / G. */
export function human(n: number): string {
  if (!Number.isFinite(n)) return "unbounded";
  const units: [number, string][] = [
    [1e9, " G"],
    [1e6, " M"],
    [1e3, " k"],
  ];
  for (const [v, u] of units) if (Math.abs(n) >= v) return `${Number((n / v).toPrecision(3))}${u}`;
  return `${Number(n.toPrecision(3))}`;
}

/** Work per second that `limit` allows when each unit of work costs `use` of it. */
export const ceiling = (limit: number, use: number) => (use > 0 ? limit / use : Infinity);

export function capacityRows(m: Measured, s: Settings, pageSeconds = 1): CapacityRow[] {
  const L = CLOUDFLARE_LIMITS;
  const perDay = (perSecond: number, what: string) => `${human(perSecond)} ${what}/s (${human(perSecond * DAY)} a day)`;
  const d1Jobs = ceiling(L.d1QueriesPerSecond, m.d1StatementsPerJob);
  const d1Runs = ceiling(L.d1QueriesPerSecond, m.d1StatementsPerRunSecond);
  const d1Requests = ceiling(L.d1QueriesPerSecond, m.d1StatementsPerStatusGet);
  const fetchInFlight = s.fetchConsumers * s.fetchConnections;
  const browserPages = s.browserConsumers * s.pagesPerBrowser;
  return [
    {
      resource: "D1 storage",
      limit: "10 GB per database",
      use:
        `${human(m.d1BytesPerJob)} B per job (${human(m.d1BytesPerRun)} B per run); ` +
        `${human(m.d1BytesPerRequest)} B per stored request`,
      ceiling:
        `${human(ceiling(L.d1Bytes, m.d1BytesPerRun * RETENTION_DAYS))} runs a day kept ${RETENTION_DAYS} days; ` +
        `${human(ceiling(L.d1Bytes, m.d1BytesPerRequest))} stored requests`,
      beyond: "request lists out of D1 (R2, or the collection's own object); a D1 database per group of tenants",
    },
    {
      resource: "D1 throughput",
      limit: "one query at a time, ~1,000/s at 1 ms",
      use:
        `${m.d1StatementsPerJob.toFixed(4)} statements per job; ${m.d1StatementsPerRunSecond.toFixed(2)}/s per run ` +
        `in progress; ${m.d1StatementsPerStatusGet.toFixed(1)} per status GET`,
      ceiling:
        `each alone: ${perDay(d1Jobs, "jobs")}; ${human(d1Runs)} runs in progress; ` +
        `${human(d1Requests)} API requests/s`,
      beyond: "key lookups cached (no D1 query per API request); counters synced less often; D1 per group of tenants",
    },
    {
      resource: "Run object storage",
      limit: "10 GB per object",
      use: `${human(m.doBytesPerJob)} B per job`,
      ceiling: `largest run ${human(ceiling(L.doBytes, m.doBytesPerJob))} jobs (collections stop at 100 k requests)`,
      beyond: "a run's jobs split over shard objects under one coordinator",
    },
    {
      resource: "Run object requests",
      limit: "~1,000 requests/s per object (soft)",
      use: `${m.doRequestsPerJob.toFixed(4)} per job, + 1 per status GET or jobs page`,
      ceiling:
        `one run: ${human(ceiling(L.doRequestsPerSecond, m.doRequestsPerJob))} jobs/s with nobody polling; ` +
        "no limit across runs (one object each)",
      beyond: "more outcomes per record() call; status GETs from a short cache",
    },
    {
      resource: "Queue throughput",
      limit: "5,000 messages/s per queue",
      use: `${m.queueMessagesPerJob.toFixed(2)} messages per fetch job`,
      ceiling: `${perDay(ceiling(L.queueMessagesPerSecond, m.queueMessagesPerJob), "jobs")} on the one fetch queue`,
      beyond: "job queues sharded (by tenant hash), a consumer per shard",
    },
    {
      resource: "Queue consumers",
      limit: "250 concurrent invocations per queue",
      use:
        `wrangler.toml: fetch ${s.fetchConsumers} × ${s.fetchConnections} connections = ${fetchInFlight} pages in ` +
        `flight; browser ${s.browserConsumers} × ${s.pagesPerBrowser} pages = ${browserPages}`,
      ceiling:
        `fetch ${perDay(fetchInFlight / pageSeconds, "jobs")} at ${pageSeconds} s per page; at 250 consumers ` +
        `${human((L.queueConsumers * s.fetchConnections) / pageSeconds)} jobs/s`,
      beyond: "max_concurrency raised (and the pacing window with it); past 250, more queues",
    },
    {
      resource: "Browsers",
      limit: "120 concurrent per account, 1 new per second",
      use: `${m.browserSecondsPerPage.toFixed(2)} browser-s, ${m.browserLaunchesPerPage.toFixed(3)} launches per page`,
      ceiling:
        `${human(ceiling(L.browsersConcurrent, m.browserSecondsPerPage))} pages/s at 120 browsers; launches allow ` +
        `${human(ceiling(L.browserLaunchesPerSecond, m.browserLaunchesPerPage))} pages/s; wrangler.toml's ` +
        `${s.browserConsumers} consumers: ${human(ceiling(s.browserConsumers, m.browserSecondsPerPage))} pages/s`,
      beyond: "browser consumers' max_concurrency raised towards the account's browsers; more from Cloudflare",
    },
  ];
}

/** The numbers wrangler.toml sets for the job consumers, read from its text. */
export function consumerSettings(toml: string, fetchConnections: number, pagesPerBrowser: number): Settings {
  // Each consumer's table runs from its [[queues.consumers]] header to the next header of any kind.
  const blocks = toml.split(/^\s*\[/m).filter((b) => b.startsWith("[queues.consumers]]"));
  const of = (queue: string, key: string) => {
    const block = blocks.find((b) => new RegExp(`^\\s*queue\\s*=\\s*"${queue}"`, "m").test(b));
    const m = block?.match(new RegExp(`^\\s*${key}\\s*=\\s*(\\d+)`, "m"));
    if (!m) throw new Error(`wrangler.toml: no ${key} for the ${queue} consumer`);
    return Number(m[1]);
  };
  return {
    fetchConsumers: of("scrape-jobs", "max_concurrency"),
    fetchBatch: of("scrape-jobs", "max_batch_size"),
    fetchConnections,
    browserConsumers: of("scrape-browser-jobs", "max_concurrency"),
    browserBatch: of("scrape-browser-jobs", "max_batch_size"),
    pagesPerBrowser,
  };
}
