/**
 * `npm run bench [-- --quick] [-- --export-only] [-- --sse]`: throughput, latency, memory, storage per
 * job, unit cost, fairness between tenants and the capacity they imply, each next to a baseline or a target measured
 * in the same run on the same machine, so the ratios mean something even where the absolute numbers only
 * describe this box. Writes bench/report.json. `--export-only` runs only the export section (the
 * big run seeded as in d., a markdown run, the conversion cost) and writes bench/report-export.json.
 * `--sse` runs only the live-events latency (h.) and writes bench/report-sse.json.
 *
 * Erasable-syntax TypeScript (Node 22 strips the types): no enums, namespaces or parameter properties.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startTargetSite } from "../test/support/target-site.ts";
import { capacityRows, consumerSettings, LIMITS_CHECKED, type Measured } from "./capacity.ts";
import { type ConversionCost, conversionCost, type ExportMeasure, measureExport } from "./export.ts";
import { runScenario, scenarios, type ScenarioResult } from "./fairness.ts";
import { type SseResult, sseLatency } from "./sse.ts";
import { benchWebhooks } from "./webhooks.ts";
import { d1File, grown, jobStoreBytes, runObjectFile, sqliteBytes, windowSampler } from "./storage.ts";
import {
  client,
  fmt,
  idleRssMb,
  workerdRssMb,
  log,
  median,
  now,
  pct,
  rssSampler,
  sleep,
  startWorker,
  table,
  tempDir,
  type Client,
  type WorkerProc,
} from "./support.ts";

const QUICK = process.argv.includes("--quick");
const EXPORT_ONLY = process.argv.includes("--export-only");
const KEEP_TMP = process.argv.includes("--keep");
/** `--sse`: only the live-events measurement (h.), printed and written to bench/report-sse.json. */
const SSE_ONLY = process.argv.includes("--sse");
/**
 * `--only=browser`: the Worker, then only the browser run and its baseline, with the run's unit
 * counts. For comparing changes to browser rendering on a shared machine, where a full bench takes
 * long enough for the load to change under it. `--only=fetch`: the same for the 1,000-job fetch
 * run's operations per job (no baseline, listing or pollers).
 */
const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length) ?? null;
if (ONLY !== null && ONLY !== "browser" && ONLY !== "fetch")
  throw new Error(`--only=${ONLY}: the sections are "browser" and "fetch"`);
/** `--pages-per-browser=N`: the Worker's BROWSER_PAGE_CONCURRENCY for this bench instead of wrangler.toml's. */
const PAGES_PER_BROWSER = process.argv.find((a) => a.startsWith("--pages-per-browser="))?.split("=")[1];
const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const REPORT = path.join(PROJECT, "bench", "report.json");
const SSE_REPORT = path.join(PROJECT, "bench", "report-sse.json");

/** The Worker fetches a queue batch with up to 6 requests at a time (src/queue/consume.ts): so does the baseline. */
const FETCH_CONCURRENCY = 6;
/**
 * Pages the puppeteer-core baseline keeps open at once in its one Chromium. The scale-out issue
 * compares at 4; the Worker renders BROWSER_PAGE_CONCURRENCY pages per browser batch (wrangler.toml).
 */
const BROWSER_CONCURRENCY = 4;
const POLLERS = 50;
const POLL_MS = 250;
const LIST_LIMIT = 500;
const LIST_REPEATS = 40;
const CREATE_REPEATS = 5;
const ADMIN = "bench-admin";

const SIZES = QUICK
  ? {
      fetchRuns: [1_000],
      browserJobs: 20,
      bigListing: 10_000,
      createSize: 10_000,
      fastBacklog: 2_000,
      bigRun: 2_000,
      markdownRun: 1_000,
      sseJobs: 1_000,
    }
  : {
      fetchRuns: [1_000, 10_000],
      browserJobs: 100,
      bigListing: 100_000,
      createSize: 10_000,
      fastBacklog: 6_000,
      bigRun: 10_000,
      markdownRun: 2_000,
      sseJobs: 10_000,
    };

/**
 * The figures of the README's previous full run (2026-11-28, jobs still in D1), which the scale-out
 * must not fall below; with the same-run baseline ratio, because this machine's load moves both.
 */
const PREVIOUS: { date: string; fetch: Record<number, { jobsPerSec: number; ratio: number }> } = {
  date: "2026-11-28",
  fetch: { 1000: { jobsPerSec: 342, ratio: 0.25 }, 10000: { jobsPerSec: 247, ratio: 0.09 } },
};

/**
 * A fetch run gives up after this long: it is cancelled and its throughput is what it did by then,
 * so a run that crawls is reported rather than holding the bench for an hour.
 */
const RUN_BUDGET_MS = (n: number) => 120_000 + n * 25;

/**
 * Cloudflare list prices (Workers Paid, beyond the monthly allowances), USD. Kept in one place with
 * the date they were read because they change; the bench multiplies measured operation counts by
 * them, it does not know any price by itself. SQLite-backed Durable Objects pay for rows and storage
 * since January 2026, rows at D1's rates (the Durable Objects pricing page on developers.cloudflare.com).
 */
const PRICES = {
  label: "Workers Paid list prices read 2026-11-29 (check before relying on them)",
  asOf: "2026-11-29",
  d1RowsReadPerM: 0.001,
  d1RowsWrittenPerM: 1.0,
  d1StoragePerGbMonth: 0.75,
  doRequestsPerM: 0.15, // every RPC call to a stub and every alarm invocation; duration not counted
  doRowsReadPerM: 0.001,
  doRowsWrittenPerM: 1.0, // each setAlarm() is billed as one row written
  doStoragePerGbMonth: 0.2,
  queueOpsPerM: 0.4, // 3 operations per message: write, read, delete
  r2ClassAPerM: 4.5,
  r2ClassBPerM: 0.36,
  browserPerHour: 0.09,
  workerRequestsPerM: 0.3, // a queue batch is one invocation: a rough figure
};
/** Metadata retention: stored bytes of a job are paid for this many months. */
const RETENTION_MONTHS = 3;

const CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--headless=new"];

type Counters = Record<string, number>;
const report: Record<string, any> = {
  started_at: new Date().toISOString(),
  quick: QUICK,
  constants: { FETCH_CONCURRENCY, BROWSER_CONCURRENCY, POLLERS, POLL_MS, LIST_LIMIT, LIST_REPEATS, CREATE_REPEATS },
  prices: PRICES,
  skipped: [] as string[],
  problems: [] as string[],
};

// ── cleanup on every way out ─────────────────────────────────────────────────────────────────
const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error(`cleanup: ${(e as Error).message}`);
      }
    }
  })());
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping the Worker and the target site`);
    void cleanup().then(() => process.exit(130));
  });
}

// ── API helpers ──────────────────────────────────────────────────────────────────────────────
const COLLECTIONS = "/v1/async/collections";

async function createCollection(
  api: Client,
  name: string,
  requests: unknown[],
): Promise<{ id: string; ms: number; bytes: number }> {
  // Bench pages are on one host (the local target site) but for the spread run, and per-host politeness
  // holds a tenant to 6 jobs in flight per host by default: the bench asks for the most a collection may (50).
  const politeness = { per_host_concurrency: 50 };
  const rawBody = JSON.stringify({ name, requests, politeness });
  const r = await api.call("POST", COLLECTIONS, { rawBody, expect: [201] });
  // Identical (url, custom_id) pairs are stored once: a short collection would make every rate wrong.
  if (r.body.total_requests !== requests.length)
    throw new Error(
      `collection "${name}" holds ${r.body.total_requests} requests, sent ${requests.length} ` +
        `(${r.body.duplicates_skipped} duplicates skipped)`,
    );
  return { id: r.body.id, ms: r.ms, bytes: rawBody.length };
}

/**
 * Hosts of the spread fetch run (a.): the target site on 127.0.0.1 … 127.0.0.N, one port. The other runs keep
 * every page on 127.0.0.1, as every earlier bench did, asking for 50 per host (the most politeness allows);
 * the spread run shows a crawl of many sites, where no host's limit applies.
 */
const FETCH_HOSTS = 16;

/** `n` pages, the i-th on origins[i mod origins.length]. */
const pageRequests = (origins: string | string[], n: number) => {
  const list = typeof origins === "string" ? [origins] : origins;
  return Array.from({ length: n }, (_, i) => ({ url: `${list[i % list.length]}/page/${i}` }));
};

type RunResult = {
  runId: string;
  elapsedMs: number;
  postRunMs: number;
  summary: any;
  polls: number;
  batches: ReturnType<typeof batchStats>;
  /** Jobs that ended within the budget; fewer than the run's total when the bench cut it short. */
  done: number;
  cut: boolean;
  /** Jobs the run's object had released and not yet seen end (its pacing window), sampled each second. */
  window: ReturnType<ReturnType<typeof windowSampler>["stop"]>;
};

let workerRef: WorkerProc | null = null;
/** wrangler dev's persist directory: the local D1 and Durable Object SQLite files. */
let stateDir = "";

/** Per-queue batch counts and durations from the wrangler log, against the run's wall time. */
function batchStats(from: number, wallMs: number) {
  const batches = workerRef ? workerRef.queueBatches(from) : [];
  const byQueue: Record<
    string,
    { batches: number; messages: number; acked: number; p50_ms: number | null; p95_ms: number | null; busy_pct: number }
  > = {};
  for (const q of new Set(batches.map((b) => b.queue))) {
    const bs = batches.filter((b) => b.queue === q);
    const ms = bs.map((b) => b.ms);
    byQueue[q] = {
      batches: bs.length,
      messages: bs.reduce((a, b) => a + b.total, 0),
      acked: bs.reduce((a, b) => a + b.acked, 0),
      p50_ms: pct(ms, 50),
      p95_ms: pct(ms, 95),
      busy_pct: (100 * ms.reduce((a, b) => a + b, 0)) / wallMs,
    };
  }
  return byQueue;
}

const ended = (s: any): number => s.success_requests + s.failed_requests + s.timeout_requests;

/**
 * POST run, then poll every 250 ms until the run is no longer in progress. Past `budgetMs` the run
 * is cancelled and reported with what it finished by then (`cut`).
 */
async function runToEnd(
  api: Client,
  cid: string,
  n: number,
  label: string,
  onStarted?: (runId: string) => void,
  budgetMs = RUN_BUDGET_MS(n),
): Promise<RunResult> {
  const logFrom = workerRef?.logSize() ?? 0;
  const t0 = now();
  const start = await api.call("POST", `${COLLECTIONS}/${cid}/run`, { expect: [201] });
  const runId: string = start.body.run_id;
  const postRunMs = now() - t0;
  // The pollers need the run id, so they start as POST /run answers (a few ms into the run).
  onStarted?.(runId);
  const sampler = windowSampler(stateDir, runId);
  let polls = 0;
  let lastLog = now();
  for (;;) {
    await sleep(POLL_MS);
    const r = await api.call("GET", `${COLLECTIONS}/${cid}/runs/${runId}`, { expect: [200] });
    polls++;
    let s = r.body;
    const cut = s.status === "in_progress" && now() - t0 > budgetMs;
    if (s.status !== "in_progress" || cut) {
      const elapsedMs = now() - t0;
      const done = ended(s);
      const window = sampler.stop();
      if (cut) {
        s = (await api.call("POST", `${COLLECTIONS}/${cid}/runs/${runId}/cancel`, { expect: [200] })).body;
        log(`${label}: CUT after ${fmt(elapsedMs / 1000, 0)} s with ${done}/${n} done; cancelled`);
        report.problems.push(
          `${label.trim()} of ${n.toLocaleString("en-US")} jobs: ${done} done after ${fmt(elapsedMs / 1000, 0)} s; ` +
            `cancelled (pacing window p50 ${fmt(window.p50, 0)}, max ${fmt(window.max, 0)})`,
        );
      } else {
        const counts = `${s.success_requests} ok, ${s.failed_requests} failed, ${s.timeout_requests} timeout`;
        log(`${label}: ${s.status} in ${fmt(elapsedMs / 1000, 2)} s (${counts})`);
      }
      const w = `p50 ${fmt(window.p50, 0)}, max ${fmt(window.max, 0)} over ${window.samples} samples`;
      log(`${label}: jobs released at once (pacing window) ${w}`);
      // The batch's log line is written after its handler returns, a moment after the run completes.
      await sleep(500);
      const batches = batchStats(logFrom, elapsedMs);
      for (const [q, b] of Object.entries(batches)) {
        log(
          `${label}: queue ${q}: ${b.batches} batches (${b.messages} messages, ${b.acked} acked), batch p50 ` +
            `${fmt(b.p50_ms, 0)} ms / p95 ${fmt(b.p95_ms, 0)} ms, consumer busy ${fmt(b.busy_pct, 0)} % of the run`,
        );
      }
      return { runId, elapsedMs, postRunMs, summary: s, polls, batches, done, cut, window };
    }
    if (now() - lastLog > 5000) {
      lastLog = now();
      log(`${label}: ${ended(s)}/${n} done after ${fmt((now() - t0) / 1000)} s`);
    }
  }
}

type Walk = {
  cursors: (string | null)[];
  totals: number[];
  statuses: Record<string, number>;
  errors: Record<string, number>;
  items: number;
};

/** Walks every page once (order_by=created_at): the cursor of each page, and every job's total_ms. */
async function walkJobs(api: Client, cid: string, runId: string): Promise<Walk> {
  const w: Walk = { cursors: [], totals: [], statuses: {}, errors: {}, items: 0 };
  let cursor: string | null = null;
  for (;;) {
    w.cursors.push(cursor);
    const q = `limit=${LIST_LIMIT}&order_by=created_at${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const r = await api.call("GET", `${COLLECTIONS}/${cid}/runs/${runId}/jobs?${q}`, { expect: [200] });
    for (const j of r.body.items) {
      w.items++;
      w.statuses[j.status] = (w.statuses[j.status] ?? 0) + 1;
      if (j.error) w.errors[j.error] = (w.errors[j.error] ?? 0) + 1;
      if (typeof j.timings?.total_ms === "number") w.totals.push(j.timings.total_ms);
    }
    if (!r.body.has_more) return w;
    cursor = r.body.cursor_next;
  }
}

/**
 * Waits until the run's last job exists and returns that instant (null past `maxMs`). Job ids are
 * the run's prefix and the job's position in 12 hex digits, so the last id follows from the first.
 */
async function waitForLastJob(api: Client, cid: string, runId: string, n: number, maxMs: number) {
  const base = `${COLLECTIONS}/${cid}/runs/${runId}/jobs`;
  const t0 = now();
  let first: string | undefined;
  while (!first) {
    first = (await api.call("GET", `${base}?limit=1&order_by=created_at`, { expect: [200] })).body.items[0]?.job_id;
    if (now() - t0 > maxMs) return null;
    if (!first) await sleep(POLL_MS);
  }
  if (!/0{12}$/.test(first)) throw new Error(`job ids no longer end in their position (${first}): find another probe`);
  const last = `${first.slice(0, -12)}${(n - 1).toString(16).padStart(12, "0")}`;
  for (;;) {
    const r = await api.raw("GET", `${base}/${last}`);
    if (r.status === 200) return now();
    if (r.status !== 404 && r.status !== 429) throw new Error(`GET ${base}/${last} → ${r.status}`);
    if (now() - t0 > maxMs) return null;
    await sleep(1_000);
  }
}

type ListTarget = { cid: string; runId: string; walk: Walk };
type Listing = {
  pages: number;
  positions: Record<string, { page: number; p50: number | null; p95: number | null }>;
  p50: number | null;
  p95: number | null;
  do_rows_read_per_get: number | null;
};

const pageQuery = (walk: Walk, idx: number) => {
  const cursor = walk.cursors[idx];
  return `limit=${LIST_LIMIT}&order_by=created_at${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
};

/** Rows the run's object reads per jobs page (5 GETs at each position, counted alone): about a page's worth. */
async function rowsReadPerGet(api: Client, t: ListTarget, positions: number[]): Promise<number | null> {
  if (!(await usageReset(api))) return null;
  const gets = [...positions, ...positions, ...positions, ...positions, ...positions];
  for (const idx of gets) {
    await api.call("GET", `${COLLECTIONS}/${t.cid}/runs/${t.runId}/jobs?${pageQuery(t.walk, idx)}`, { expect: [200] });
  }
  const u = await usageGet(api);
  return u && typeof u.do_sql_rows_read === "number" ? u.do_sql_rows_read / gets.length : null;
}

/**
 * The first, middle and last 500-item page of each run, fetched LIST_REPEATS times; latency of 200s
 * only. The runs are measured together: each round GETs the same position of every run back to back,
 * the order turning each round, so a moment of load on the box falls on all of them alike and the
 * ratio of their p95s compares like with like (measured apart, minutes apart, it moved 0.67-1.21).
 */
async function measureListings(api: Client, targets: ListTarget[]): Promise<Listing[]> {
  const where = (t: ListTarget) => {
    const n = t.walk.cursors.length;
    return { first: 0, middle: Math.floor(n / 2), last: n - 1 };
  };
  const lat = targets.map(() => ({ first: [] as number[], middle: [] as number[], last: [] as number[] }));
  // An untimed GET first: the older run's object may have been evicted since it was last read.
  for (const t of targets)
    await api.call("GET", `${COLLECTIONS}/${t.cid}/runs/${t.runId}/jobs?${pageQuery(t.walk, 0)}`, { expect: [200] });
  for (let round = 0; round < LIST_REPEATS; round++) {
    for (const pos of ["first", "middle", "last"] as const) {
      for (let k = 0; k < targets.length; k++) {
        const i = (k + round) % targets.length;
        const t = targets[i];
        const q = pageQuery(t.walk, where(t)[pos]);
        const r = await api.call("GET", `${COLLECTIONS}/${t.cid}/runs/${t.runId}/jobs?${q}`, { expect: [200] });
        lat[i][pos].push(r.ms);
      }
    }
  }
  const out: Listing[] = [];
  for (const [i, t] of targets.entries()) {
    const at = where(t);
    const positions: Listing["positions"] = {};
    for (const pos of ["first", "middle", "last"] as const) {
      positions[pos] = { page: at[pos], p50: pct(lat[i][pos], 50), p95: pct(lat[i][pos], 95) };
    }
    const all = [...lat[i].first, ...lat[i].middle, ...lat[i].last];
    const rows = await rowsReadPerGet(api, t, Object.values(at));
    out.push({
      pages: t.walk.cursors.length,
      positions,
      p50: pct(all, 50),
      p95: pct(all, 95),
      do_rows_read_per_get: rows,
    });
  }
  return out;
}

async function usageGet(api: Client): Promise<Counters | null> {
  const r = await api.raw("GET", "/v1/admin/usage", { auth: "admin" });
  if (r.status !== 200) return null;
  const c = { ...r.body.counters } as Counters;
  // This GET is itself a Worker invocation counted before it answers.
  if (typeof c.worker_invocations === "number") c.worker_invocations -= 1;
  return c;
}
async function usageReset(api: Client): Promise<boolean> {
  const r = await api.raw("POST", "/v1/admin/usage/reset", { auth: "admin" });
  return r.status === 204;
}

/**
 * Cost of one status GET, measured: the client's polling is part of the counters read around a
 * run, and at 4 polls per second it is not negligible next to a design target of 0.05 DO
 * requests per job, so the report shows the run's cost with and without it.
 */
async function perPollCost(api: Client, cid: string, runId: string): Promise<Counters | null> {
  if (!(await usageReset(api))) return null;
  const k = 10;
  for (let i = 0; i < k; i++) await api.call("GET", `${COLLECTIONS}/${cid}/runs/${runId}`, { expect: [200] });
  const u = await usageGet(api);
  if (!u) return null;
  return Object.fromEntries(Object.entries(u).map(([key, v]) => [key, v / k]));
}

/**
 * Operations behind one API request of each kind, measured: the fixed cost every poll or page
 * carries (key lookup, run lookup, DO call), which explains status latency and rate-limit use.
 */
async function probeRequests(api: Client, cid: string, runId: string): Promise<Record<string, Counters> | null> {
  const kinds: Record<string, string> = {
    "GET run status": `${COLLECTIONS}/${cid}/runs/${runId}`,
    "GET jobs page (limit 10)": `${COLLECTIONS}/${cid}/runs/${runId}/jobs?limit=10`,
    "GET collections list": `${COLLECTIONS}?limit=1`,
  };
  const out: Record<string, Counters> = {};
  for (const [name, p] of Object.entries(kinds)) {
    if (!(await usageReset(api))) return null;
    const k = 5;
    for (let i = 0; i < k; i++) await api.call("GET", p, { expect: [200] });
    const u = await usageGet(api);
    if (!u) return null;
    out[name] = Object.fromEntries(Object.entries(u).map(([key, v]) => [key, v / k]));
  }
  return out;
}

function minus(a: Counters, b: Counters | null, times: number): Counters {
  if (!b) return { ...a };
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, Math.max(0, v - (b[k] ?? 0) * times)]));
}

function per1k(c: Counters, jobs: number): Counters {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, (v * 1000) / jobs]));
}

/**
 * Dollars for the counted operations. `stored` (bytes, for as many jobs as `c` counts) prices the
 * metadata kept for the retention period: D1's share and the run object's.
 */
/** Bytes kept for the retention period, in D1 and in the run's object. */
type Stored = { d1: number; do: number };

function dollars(c: Counters, stored?: Stored): { total: number; parts: Record<string, number> } {
  const parts: Record<string, number> = {
    d1_rows_read: ((c.d1_rows_read ?? 0) * PRICES.d1RowsReadPerM) / 1e6,
    d1_rows_written: ((c.d1_rows_written ?? 0) * PRICES.d1RowsWrittenPerM) / 1e6,
    do_requests: (((c.do_requests ?? 0) + (c.do_alarms ?? 0)) * PRICES.doRequestsPerM) / 1e6,
    do_rows_read: ((c.do_sql_rows_read ?? 0) * PRICES.doRowsReadPerM) / 1e6,
    do_rows_written: (((c.do_sql_rows_written ?? 0) + (c.do_set_alarms ?? 0)) * PRICES.doRowsWrittenPerM) / 1e6,
    queue_ops: (3 * (c.queue_messages ?? 0) * PRICES.queueOpsPerM) / 1e6,
    r2_class_a: ((c.r2_class_a ?? 0) * PRICES.r2ClassAPerM) / 1e6,
    r2_class_b: ((c.r2_class_b ?? 0) * PRICES.r2ClassBPerM) / 1e6,
    browser: ((c.browser_ms ?? 0) / 3_600_000) * PRICES.browserPerHour,
  };
  if (typeof c.worker_invocations === "number")
    parts.worker_requests = (c.worker_invocations * PRICES.workerRequestsPerM) / 1e6;
  if (stored) {
    const perMonth = stored.d1 * PRICES.d1StoragePerGbMonth + stored.do * PRICES.doStoragePerGbMonth;
    parts.storage_90_days = (perMonth * RETENTION_MONTHS) / 1e9;
  }
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

/**
 * a. 1,000 pages spread over `hosts`, beside the same Node loop over the same URLs: the one-host runs are held
 * to 50 jobs in flight (released and not yet recorded) by per-host politeness; this one is not.
 */
async function spreadRun(api: Client, hosts: string[], n: number) {
  log(`a. fetch run of ${n.toLocaleString("en-US")} jobs over ${hosts.length} hosts …`);
  const cid = (await createCollection(api, `bench spread ${n}`, pageRequests(hosts, n))).id;
  const run = await runToEnd(api, cid, n, "   spread run");
  const jps = (run.done * 1000) / run.elapsedMs;
  const base = await fetchBaseline(hosts, n);
  log(
    `   ${fmt(jps)} jobs/s; baseline ${fmt(base.jobsPerSec)} jobs/s; Worker/baseline = ` +
      `${fmt(jps / base.jobsPerSec, 3)}`,
  );
  return { jobs: n, done: run.done, cut: run.cut, window: run.window, jobs_per_sec: jps, baseline: base };
}

// ── baselines ────────────────────────────────────────────────────────────────────────────────

async function fetchBaseline(origins: string | string[], n: number) {
  const urls = pageRequests(origins, n).map((r) => r.url);
  let next = 0;
  let bytes = 0;
  let failures = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: FETCH_CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) {
        const r = await fetch(urls[i]);
        bytes += (await r.text()).length;
        if (!r.ok) failures++;
      }
    }),
  );
  const ms = now() - t0;
  return { jobs: n, ms, jobsPerSec: (n * 1000) / ms, bytes, failures };
}

type BrowserBaseline = { pagesPerSec: number; ms: number; launchMs: number; failures: number } | { skipped: string };

/**
 * puppeteer-core rendering `n` pages of /js, BROWSER_CONCURRENCY at once, a new tab per page. `isolated`: each
 * page in a browser context of its own, closed after it, as the Worker isolates each job (what Crawlee's
 * `useIncognitoPages` does); else every tab in the default context, sharing cookies, storage and cache.
 */
async function browserBaseline(origin: string, n: number, isolated: boolean): Promise<BrowserBaseline> {
  const exe = CHROMIUM.find((p) => fs.existsSync(p));
  if (!exe) return { skipped: `no Chromium at ${CHROMIUM.join(" or ")}` };
  let puppeteer: any;
  try {
    puppeteer = (await import("puppeteer-core")).default;
  } catch (e) {
    return {
      skipped: `puppeteer-core cannot be loaded (${(e as Error).message}); npm install -D --save-exact puppeteer-core`,
    };
  }
  // Launch is inside the timing: the Worker's run time includes its own browser launches too.
  const t0 = now();
  let browser: any;
  try {
    browser = await puppeteer.launch({ executablePath: exe, args: CHROMIUM_ARGS });
  } catch (e) {
    return { skipped: `puppeteer-core could not drive ${exe}: ${(e as Error).message}` };
  }
  const closeBrowser = () => browser.close().catch(() => undefined);
  cleanups.push(closeBrowser);
  const launchMs = now() - t0;
  let next = 0;
  let failures = 0;
  try {
    await Promise.all(
      Array.from({ length: BROWSER_CONCURRENCY }, async () => {
        for (let i = next++; i < n; i = next++) {
          // New tab per page and waitUntil "load", as src/fetchers/browser.ts renders a job.
          const context = isolated ? await browser.createBrowserContext() : null;
          const page = await (context ?? browser).newPage();
          try {
            const res = await page.goto(`${origin}/js`, { waitUntil: "load", timeout: 30_000 });
            const html: string = await page.content();
            if (!res?.ok() || !html.includes("</html>")) failures++;
          } catch {
            failures++;
          } finally {
            await (context ?? page).close();
          }
        }
      }),
    );
  } finally {
    await closeBrowser();
  }
  const ms = now() - t0;
  return { pagesPerSec: (n * 1000) / ms, ms, launchMs, failures };
}

/**
 * b. A browser run of `nb` pages of /js with its unit costs, then the puppeteer-core baseline on the
 * same Chromium: the Worker first, so the baseline's browser is closed before the Worker renders.
 */
async function browserSection(api: Client, origin: string, usageOk: boolean) {
  const nb = SIZES.browserJobs;
  log(`b. browser run of ${nb} jobs …`);
  const bcid = (
    await createCollection(
      api,
      "bench browser",
      Array.from({ length: nb }, (_, i) => ({ url: `${origin}/js`, browser: true, custom_id: `b${i}` })),
    )
  ).id;
  const counted = usageOk && (await usageReset(api));
  const brun = await runToEnd(api, bcid, nb, "   browser run", undefined, 120_000 + nb * 2_000);
  const busage = counted ? await usageGet(api) : null;
  const bpoll = busage ? await perPollCost(api, bcid, brun.runId) : null;
  const bwalk = await walkJobs(api, bcid, brun.runId);
  if (brun.summary.success_requests !== nb)
    report.problems.push(
      `browser run: ${brun.summary.success_requests} of ${nb} succeeded; errors ${JSON.stringify(bwalk.errors)}`,
    );
  const bpps = (brun.done * 1000) / brun.elapsedMs;
  log(
    `   Worker ${fmt(bpps, 2)} pages/s; baseline: puppeteer-core on the same Chromium, concurrency ` +
      `${BROWSER_CONCURRENCY} …`,
  );
  const bbase = await browserBaseline(origin, nb, false);
  if ("skipped" in bbase) {
    report.skipped.push(`browser baseline: ${bbase.skipped}`);
    log(`   browser baseline skipped: ${bbase.skipped}`);
  } else {
    log(
      `   baseline ${fmt(bbase.pagesPerSec, 2)} pages/s (launch ${fmt(bbase.launchMs, 0)} ms); Worker/baseline = ` +
        `${fmt(bpps / bbase.pagesPerSec, 3)}`,
    );
  }
  log(`   baseline with a browser context per page (the Worker's isolation), concurrency ${BROWSER_CONCURRENCY} …`);
  const biso = await browserBaseline(origin, nb, true);
  if ("skipped" in biso) log(`   isolated baseline skipped: ${biso.skipped}`);
  else
    log(
      `   isolated baseline ${fmt(biso.pagesPerSec, 2)} pages/s; Worker/isolated = ${fmt(bpps / biso.pagesPerSec, 3)}`,
    );
  const browserRun = {
    jobs: nb,
    done: brun.done,
    cut: brun.cut,
    window: brun.window,
    run_id: brun.runId,
    elapsed_ms: brun.elapsedMs,
    pages_per_sec: bpps,
    summary: brun.summary,
    job_latency_ms: { p50: pct(bwalk.totals, 50), p95: pct(bwalk.totals, 95) },
    statuses: bwalk.statuses,
    errors: bwalk.errors,
    queue_batches: brun.batches,
    baseline: bbase,
    ratio: "skipped" in bbase ? null : bpps / bbase.pagesPerSec,
    isolated_baseline: biso,
    isolated_ratio: "skipped" in biso ? null : bpps / biso.pagesPerSec,
    polls: brun.polls,
    usage: busage,
    per_poll_usage: bpoll,
  };

  return { nb, brun, busage, bpoll, bpps, bbase, biso, browserRun };
}

/** The browser section alone (`--only=browser`): its figures and its operations per page, status polls excluded. */
async function browserOnly(api: Client, origin: string, usageOk: boolean) {
  const { nb, brun, busage, bpoll, bbase, bpps, browserRun } = await browserSection(api, origin, usageOk);
  const perPage = busage ? minus(busage, bpoll, brun.polls) : null;
  const per = (k: string) => (perPage ? (perPage[k] ?? NaN) / nb : NaN);
  const rows: (string | number)[][] = [
    ["pages/s (Worker)", fmt(bpps, 2)],
    [
      `pages/s (puppeteer-core, ${BROWSER_CONCURRENCY} at once)`,
      "skipped" in bbase ? "skipped" : fmt(bbase.pagesPerSec, 2),
    ],
    ["ratio", fmt(browserRun.ratio, 3)],
    [
      `pages/s (puppeteer-core, a context per page)`,
      "skipped" in browserRun.isolated_baseline ? "skipped" : fmt(browserRun.isolated_baseline.pagesPerSec, 2),
    ],
    ["ratio to the isolated baseline", fmt(browserRun.isolated_ratio, 3)],
    ["job p50 / p95 ms", `${fmt(browserRun.job_latency_ms.p50, 0)} / ${fmt(browserRun.job_latency_ms.p95, 0)}`],
    ["DO calls per page", fmt(per("do_requests"), 4)],
    ["  of which HostGate calls", fmt(per("do_gate_requests"), 4)],
    ["DO alarms per page", fmt(per("do_alarms"), 4)],
    ["DO setAlarm calls per page", fmt(per("do_set_alarms"), 4)],
    ["D1 write statements per page", fmt(per("d1_write_statements"), 4)],
    ["browser seconds per page", fmt(per("browser_ms") / 1000, 2)],
    ["browser launches / reuses", `${busage?.browser_launches ?? "n/a"} / ${busage?.browser_reuses ?? "n/a"}`],
  ];
  for (const [q, v] of Object.entries(browserRun.queue_batches ?? {}) as [string, any][]) {
    rows.push([`${q}: batches, p50 / p95 ms`, `${v.batches}, ${fmt(v.p50_ms, 0)} / ${fmt(v.p95_ms, 0)}`]);
  }
  const load = `load average ${loadAtStart} at start, ${os.loadavg()[0].toFixed(1)} at the end`;
  console.log(
    `\nBrowser section (${QUICK ? "--quick" : "full"}: ${nb} pages of /js), ${new Date().toISOString()}, ${load}`,
  );
  console.log(table(["", "measured"], rows));
  if (report.problems.length) console.log(`\nProblems seen: \n- ${report.problems.join("\n- ")}`);
  Object.assign(report, {
    only: ONLY,
    finished_at: new Date().toISOString(),
    browser_run: browserRun,
    per_page: perPage,
  });
  fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  log(`report written to ${path.relative(process.cwd(), REPORT)}`);
}

/** The 1,000-job fetch run alone (`--only=fetch`): its operations per job, status polls excluded. */
async function fetchOnly(api: Client, origin: string, usageOk: boolean) {
  const n = 1_000;
  const cid = (await createCollection(api, `bench fetch ${n}`, pageRequests(origin, n))).id;
  const counted = usageOk && (await usageReset(api));
  log(`a. fetch run of ${n.toLocaleString("en-US")} jobs …`);
  const run = await runToEnd(api, cid, n, "   fetch run");
  const usage = counted ? await usageGet(api) : null;
  const poll = usage ? await perPollCost(api, cid, run.runId) : null;
  const perJob = usage ? minus(usage, poll, run.polls) : null;
  const per = (k: string) => (perJob ? (perJob[k] ?? NaN) / n : NaN);
  const jps = (run.done * 1000) / run.elapsedMs;
  const rows: (string | number)[][] = [
    ["jobs/s (Worker)", fmt(jps, 1)],
    ["DO calls per job", fmt(per("do_requests"), 4)],
    ["  of which HostGate calls", fmt(per("do_gate_requests"), 4)],
    ["DO alarms per job", fmt(per("do_alarms"), 4)],
    ["DO setAlarm calls per job", fmt(per("do_set_alarms"), 4)],
    ["D1 write statements per job", fmt(per("d1_write_statements"), 4)],
    ["queue messages per job", fmt(per("queue_messages"), 4)],
  ];
  const load = `load average ${loadAtStart} at start, ${os.loadavg()[0].toFixed(1)} at the end`;
  console.log(`\nFetch section (${n} pages), ${new Date().toISOString()}, ${load}`);
  console.log(table(["", "measured"], rows));
  if (report.problems.length) console.log(`\nProblems seen: \n- ${report.problems.join("\n- ")}`);
  Object.assign(report, {
    only: ONLY,
    finished_at: new Date().toISOString(),
    fetch_run: { jobs: n, done: run.done, elapsed_ms: run.elapsedMs, window: run.window, usage, polls: run.polls },
    per_job: perJob,
  });
  fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  log(`report written to ${path.relative(process.cwd(), REPORT)}`);
}

// ── status pollers ───────────────────────────────────────────────────────────────────────────

function startPollers(api: Client, cid: string, runId: string, count: number) {
  let stop = false;
  const since = Date.now();
  const lat: number[] = [];
  const non200: Record<string, number> = {};
  const non200At: number[] = [];
  const loops = Array.from({ length: count }, async () => {
    // Spread over the first second so 50 pollers are 50 requests per second, not bursts of 50.
    await sleep(Math.random() * 1000);
    while (!stop) {
      const t = now();
      try {
        const r = await api.raw("GET", `${COLLECTIONS}/${cid}/runs/${runId}`);
        if (r.status === 200) lat.push(r.ms);
        else {
          non200[r.status] = (non200[r.status] ?? 0) + 1;
          non200At.push(Date.now() - since);
        }
      } catch (e) {
        non200[`error: ${(e as Error).message}`] = (non200[`error: ${(e as Error).message}`] ?? 0) + 1;
      }
      const wait = 1000 - (now() - t);
      if (wait > 0) await sleep(wait);
    }
  });
  return async () => {
    stop = true;
    await Promise.all(loops);
    const seconds = (Date.now() - since) / 1000;
    return {
      samples: lat.length,
      seconds,
      p50: pct(lat, 50),
      p95: pct(lat, 95),
      max: lat.length ? Math.max(...lat) : null,
      non200,
      non200_at_ms: non200At.slice(0, 50),
      busiest_10s_window: api.maxPerWindow(10_000, since),
    };
  };
}

/** Waits until the wrangler log has shown no finished queue batch for `quietMs` (at most `maxMs`). */
async function queueQuiet(worker: WorkerProc, quietMs: number, maxMs: number) {
  const t0 = now();
  let seen = worker.queueBatches(0).length;
  let since = now();
  while (now() - since < quietMs && now() - t0 < maxMs) {
    await sleep(500);
    const n = worker.queueBatches(0).length;
    if (n !== seen) [seen, since] = [n, now()];
  }
}

// ── live events ──────────────────────────────────────────────────────────────────────────────

/** h.: one SSE client on a run of SIZES.sseJobs fast pages, nobody else polling. */
async function liveEvents(api: Client, origin: string, key: string, site: string): Promise<SseResult> {
  const n = SIZES.sseJobs;
  log(`h. live events: an SSE client on a fetch run of ${n.toLocaleString("en-US")} jobs …`);
  const r = await sseLatency(api, origin, key, site, n, RUN_BUDGET_MS(n));
  log(
    `   ${r.events} job events (${r.duplicates} twice, ${r.missing} missing) over ${r.streams} stream(s); ` +
      `completion → event p50 ${fmt(r.latency_ms.p50, 0)} ms, p95 ${fmt(r.latency_ms.p95, 0)} ms, ` +
      `max ${fmt(r.latency_ms.max, 0)} ms; run ${r.run_status} at ${fmt(r.jobs_per_sec)} jobs/s`,
  );
  if (r.duplicates || r.missing) report.problems.push(`live events: ${r.duplicates} jobs twice, ${r.missing} missing`);
  return r;
}

const sseRow = (r: SseResult): (string | number)[] => [
  `job completed_at → its SSE event at the client, ${r.jobs.toLocaleString("en-US")}-job fetch run`,
  fmt(r.latency_ms.p50),
  fmt(r.latency_ms.p95),
  `${r.events} events, ${r.duplicates} twice, ${r.missing} missing, ${r.streams} stream(s), ${r.run_events} run ` +
    `events; max ${fmt(r.latency_ms.max, 0)} ms; run at ${fmt(r.jobs_per_sec)} jobs/s`,
];

// ── main ─────────────────────────────────────────────────────────────────────────────────────

const loadAtStart = os.loadavg()[0].toFixed(1);

type ExportUse = { do_requests: number | null; r2_class_b: number | null; r2_requests: number | null };

/** One export measured, with the operations the Worker counted meanwhile (run-object calls, R2 GETs). */
async function exportWithUse(
  api: Client,
  o: { origin: string; key: string; pid: number; path: string; query: string },
): Promise<ExportMeasure & { use: ExportUse }> {
  const counted = await usageReset(api);
  const m = await measureExport(o);
  const u = counted ? await usageGet(api) : null;
  const pick = (k: string) => (u && typeof u[k] === "number" ? (u[k] as number) : null);
  return {
    ...m,
    use: { do_requests: pick("do_requests"), r2_class_b: pick("r2_class_b"), r2_requests: pick("r2_requests") },
  };
}

/**
 * g. export: the big run of d. (every job ended, "cancelled", so its rows are what an export of
 * 100,000 jobs writes without pages) as NDJSON and CSV; a run of real pages that asked for
 * markdown, exported with include=markdown; and the converter's CPU per page.
 */
async function exportSection(
  api: Client,
  o: { origin: string; site: string; key: string; pid: number; big: { cid: string; runId: string; jobs: number } },
) {
  log("g. export: conversion cost of the chosen converter (bench/extract.ts --chosen-only) …");
  let conversion: ConversionCost[] | null = null;
  try {
    conversion = conversionCost(PROJECT);
    for (const c of conversion) log(`   ${c.page}: ${fmt(c.cpu_ms, 1)} ms CPU, ${fmt(c.wall_ms, 1)} ms wall`);
  } catch (e) {
    report.problems.push(`conversion cost not measured: ${(e as Error).message}`);
  }
  const bigPath = `${COLLECTIONS}/${o.big.cid}/runs/${o.big.runId}/export`;
  const big: Record<string, ExportMeasure & { use: ExportUse }> = {};
  for (const format of ["ndjson", "csv"] as const) {
    log(`   exporting the ${o.big.jobs.toLocaleString("en-US")}-job run as ${format} …`);
    big[format] = await exportWithUse(api, { ...o, path: bigPath, query: `format=${format}` });
    const m = big[format];
    log(
      `   ${format}: ${fmt(m.ms / 1000, 2)} s, ${fmt(m.bytes / 1e6, 1)} MB, ${m.lines} lines, ` +
        `RSS +${fmt(m.rss_delta_mb, 0)} MB (idle ${fmt(m.idle_rss_mb, 0)} MB), ` +
        `${m.use.do_requests ?? "?"} object reads, complete: ${m.complete}`,
    );
    if (!m.complete) report.problems.push(`export of the big run as ${format} incomplete: ${m.error}`);
  }
  const nmd = SIZES.markdownRun;
  log(`   a ${nmd.toLocaleString("en-US")}-job run of pages asking for markdown …`);
  const mdReqs = pageRequests(o.site, nmd).map((r) => ({ ...r, formats: ["markdown"] }));
  const mdCol = await createCollection(api, `bench markdown ${nmd}`, mdReqs);
  const mdRun = await runToEnd(api, mdCol.id, nmd, "   markdown run");
  const mdPath = `${COLLECTIONS}/${mdCol.id}/runs/${mdRun.runId}/export`;
  const markdown = await exportWithUse(api, { ...o, path: mdPath, query: "format=ndjson&include=markdown" });
  log(
    `   include=markdown: ${fmt(markdown.ms / 1000, 2)} s, ${fmt(markdown.bytes / 1e6, 1)} MB, ` +
      `${markdown.lines} lines, ${markdown.use.do_requests ?? "?"} object reads, ` +
      `${markdown.use.r2_class_b ?? "?"} R2 GETs, complete: ${markdown.complete}`,
  );
  if (!markdown.complete) report.problems.push(`markdown export incomplete: ${markdown.error}`);
  const rows = [
    ...(["ndjson", "csv"] as const).map((f) => [`${o.big.jobs.toLocaleString("en-US")} jobs, ${f}`, big[f]] as const),
    [
      `${nmd.toLocaleString("en-US")} jobs, ndjson include=markdown (run ${fmt(mdRun.elapsedMs / 1000, 1)} s)`,
      markdown,
    ] as const,
  ].map(([label, m]) => [
    label,
    fmt(m.ms / 1000, 2),
    fmt(m.lines / (m.ms / 1000), 0),
    fmt(m.bytes / 1e6 / (m.ms / 1000), 1),
    `${fmt(m.idle_rss_mb, 0)} → ${fmt(m.peak_rss_mb, 0)} (+${fmt(m.rss_delta_mb, 0)})`,
    m.use.do_requests ?? "?",
    m.use.r2_class_b ?? "?",
    m.complete ? "yes" : `no: ${m.error}`,
  ]);
  const lines = [
    "Export (streamed, read as it arrives; RSS of the workerd processes sampled every 100 ms, idle before → peak)",
    table(["export", "s", "jobs/s", "MB/s", "workerd RSS MB", "object reads", "R2 GETs", "complete"], rows),
  ];
  if (conversion) {
    lines.push("Markdown conversion, chosen converter, CPU per page (bench/extract.ts; Node's V8, as in workerd)");
    lines.push(
      table(
        ["page", "CPU ms", "wall ms", "parsed heap MB"],
        conversion.map((c) => [
          `${c.page} (${fmt(c.kb, 0)} KB)`,
          fmt(c.cpu_ms, 1),
          fmt(c.wall_ms, 1),
          fmt(c.heap_mb, 1),
        ]),
      ),
    );
  }
  return {
    report: {
      conversion,
      big: { jobs: o.big.jobs, ...big },
      markdown: { jobs: nmd, run_ms: mdRun.elapsedMs, ...markdown },
    },
    lines,
  };
}

/** A run of `n` jobs that all ended (created, started, cancelled), for what only its size matters to. */
async function seedEndedRun(api: Client, origin: string, n: number) {
  log(`seeding a ${n.toLocaleString("en-US")}-job run: create, run, cancel …`);
  const col = await createCollection(api, `bench ended ${n}`, pageRequests(origin, n));
  const start = await api.call("POST", `${COLLECTIONS}/${col.id}/run`, { expect: [201] });
  await api.call("POST", `${COLLECTIONS}/${col.id}/runs/${start.body.run_id}/cancel`, { expect: [200] });
  if ((await waitForLastJob(api, col.id, start.body.run_id, n, 600_000)) === null)
    throw new Error(`the ${n}-job run's last job did not exist 10 min after POST run`);
  return { cid: col.id, runId: start.body.run_id as string, jobs: n };
}

async function main() {
  const benchStart = now();
  const tmp = tempDir();
  if (!KEEP_TMP) cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  try {
    report.load_average_start = os.loadavg();
    report.git = {
      head: execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: PROJECT }).toString().trim(),
      dirty_files: execFileSync("git", ["status", "--porcelain"], { cwd: PROJECT })
        .toString()
        .trim()
        .split("\n")
        .filter(Boolean).length,
    };
  } catch {
    // not a git checkout: the report just lacks the revision
  }
  log(
    `mode: ${QUICK ? "quick" : "full"}; fetch concurrency C=${FETCH_CONCURRENCY}, browser concurrency ` +
      `${BROWSER_CONCURRENCY}; temp ${tmp}`,
  );

  const site = await startTargetSite();
  cleanups.push(() => site.close());
  const sitePort = Number(new URL(site.origin).port);
  const hosts = [site.origin];
  for (let k = 2; k <= FETCH_HOSTS; k++) {
    const more = await startTargetSite(sitePort, `127.0.0.${k}`);
    cleanups.push(() => more.close());
    hosts.push(more.origin);
  }
  log(`target site ${site.origin} (the spread run: also 127.0.0.2 … 127.0.0.${FETCH_HOSTS}, the same port)`);

  log("starting the Worker (wrangler dev on a snapshot of src/, fresh state) …");
  let worker: WorkerProc | null = null;
  const tStart = now();
  try {
    worker = await startWorker({
      projectDir: PROJECT,
      tmp,
      vars: {
        LOCAL_DEV: "true",
        ADMIN_TOKEN: ADMIN,
        BENCH_METRICS: "true",
        MAX_REQUESTS_PER_COLLECTION: "100000",
        MAX_JOBS_IN_FLIGHT: "10000000",
        ...(PAGES_PER_BROWSER ? { BROWSER_PAGE_CONCURRENCY: PAGES_PER_BROWSER } : {}),
      },
      onSpawn: (stop) => cleanups.push(stop),
    });
  } catch (e) {
    console.error(
      fs.existsSync(path.join(tmp, "wrangler.log"))
        ? fs.readFileSync(path.join(tmp, "wrangler.log"), "utf8").split("\n").slice(-40).join("\n")
        : "",
    );
    throw e;
  }
  workerRef = worker;
  stateDir = path.join(tmp, "state");
  log(`Worker up at ${worker.origin} (pid ${worker.pid}) in ${fmt((now() - tStart) / 1000)} s`);

  const api = client(worker.origin);
  api.setAdmin(ADMIN);
  const key = await api.call("POST", "/v1/admin/keys", { auth: "admin", body: { tenant: "bench" }, expect: [201] });
  api.setKey(key.body.key);

  if (SSE_ONLY) {
    const sse = await liveEvents(api, worker.origin, key.body.key, site.origin);
    const lines = [
      "",
      `Live events (--sse), ${new Date().toISOString()}, load average ${loadAtStart} at start, ` +
        `${os.loadavg()[0].toFixed(1)} at the end`,
      table(["", "p50", "p95", "notes"], [sseRow(sse)]),
    ];
    console.log(lines.join("\n"));
    fs.writeFileSync(SSE_REPORT, `${JSON.stringify({ ...report, live_events: sse }, null, 2)}\n`);
    log(`report written to ${path.relative(process.cwd(), SSE_REPORT)}`);
    return;
  }

  let usageOk = (await usageGet(api)) !== null;
  if (!usageOk) {
    // The usage endpoints may still be on their way (another engineer); the snapshot cannot grow them.
    report.skipped.push("unit costs: GET /v1/admin/usage did not answer 200 (endpoints missing in this src snapshot)");
    log("GET /v1/admin/usage is not there: unit costs will be skipped");
  } else {
    const u = (await usageGet(api))!;
    // bench/worker-entry.ts adds these unless src/metrics.ts counts them; missing means neither does.
    const missing = ["do_sql_rows_read", "do_sql_rows_written", "do_alarms", "do_set_alarms"].filter((k) => !(k in u));
    if (missing.length) {
      report.problems.push(`usage counters missing: ${missing.join(", ")} (run objects' storage, alarms unpriced)`);
    }
  }

  if (EXPORT_ONLY) {
    const big = await seedEndedRun(api, site.origin, SIZES.bigListing);
    const o = { origin: worker.origin, site: site.origin, key: key.body.key as string, pid: worker.pid, big };
    const ex = await exportSection(api, o);
    console.log(["", ...ex.lines].join("\n"));
    Object.assign(report, { finished_at: new Date().toISOString(), export: ex.report });
    const file = path.join(PROJECT, "bench", "report-export.json");
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`report written to ${path.relative(process.cwd(), file)}`);
    return;
  }

  if (ONLY === "browser") {
    await browserOnly(api, site.origin, usageOk);
    return;
  }
  if (ONLY === "fetch") {
    await fetchOnly(api, site.origin, usageOk);
    return;
  }

  // ── e. create of a 10k collection: median of 5, workerd RSS sampled during each POST ──
  const storage: Record<string, any> = {};
  const createTimes: number[] = [];
  const memory: any = {};
  let createdId = "";
  {
    const n = SIZES.createSize;
    log(
      `e. creating ${CREATE_REPEATS} collections of ${n.toLocaleString("en-US")} requests (RSS sampled every 100 ms) …`,
    );
    const peaks: number[] = [];
    let idle = 0;
    for (let i = 0; i < CREATE_REPEATS; i++) {
      idle = await idleRssMb(worker.pid);
      const d1Before = i === 0 ? sqliteBytes(d1File(stateDir)) : null;
      const sampler = rssSampler(worker.pid);
      const c = await createCollection(api, `bench create ${i}`, pageRequests(site.origin, n));
      const { peakMb } = sampler.stop();
      // What a stored request costs D1: collections grow D1 now that jobs live in the runs' objects.
      if (d1Before) storage.d1_per_request = { requests: n, ...grown(d1Before, sqliteBytes(d1File(stateDir))) };
      createTimes.push(c.ms);
      peaks.push(peakMb - idle);
      createdId = c.id;
      log(
        `   create ${i + 1}: ${fmt(c.ms, 0)} ms, body ${fmt(c.bytes / 1e6, 2)} MB, RSS idle ${fmt(idle, 0)} MB → ` +
          `peak +${fmt(peakMb - idle, 0)} MB`,
      );
    }
    memory[`create${n / 1000}k`] = { idle_mb: idle, peak_delta_mb: Math.max(...peaks), per_create_delta_mb: peaks };
  }

  // ── a. fetch-mode runs ──
  const fetchRuns: any[] = [];
  let smallTarget: ListTarget | null = null;
  let pollerResult: any = null;
  let statusIdle: any = null;
  let requestProbe: Record<string, Counters> | null = null;
  for (const n of SIZES.fetchRuns) {
    const cid =
      n === SIZES.createSize
        ? createdId
        : (await createCollection(api, `bench fetch ${n}`, pageRequests(site.origin, n))).id;
    // Counters are reset after the collection exists: a collection is created once and run many times.
    const counted = n === 1_000 && usageOk;
    // The 10k run is counted too, but only its D1 rows read per job is reported: its 50 pollers swamp
    // the other counters. Rows read per job growing with run size means some statement scans the run.
    if (usageOk) usageOk = await usageReset(api);
    const withPollers = n === 10_000;
    let stopPollers: (() => Promise<any>) | null = null;
    log(`a. fetch run of ${n.toLocaleString("en-US")} jobs${withPollers ? ` with ${POLLERS} status pollers` : ""} …`);
    const d1Before = sqliteBytes(d1File(stateDir));
    const run = await runToEnd(api, cid, n, "   fetch run", (runId) => {
      if (withPollers) stopPollers = startPollers(api, cid, runId, POLLERS);
    });
    if (stopPollers) pollerResult = await (stopPollers as () => Promise<any>)();
    const usageAll = usageOk ? await usageGet(api) : null;
    const usage = counted ? usageAll : null;
    const { runId, elapsedMs, summary, polls } = run;
    const jps = (run.done * 1000) / elapsedMs;
    log(`   ${fmt(jps)} jobs/s`);
    if (!run.cut && summary.success_requests !== n) {
      report.problems.push(`fetch run ${n}: ${summary.success_requests}/${n} succeeded (${JSON.stringify(summary)})`);
    }
    // Bytes the run added to D1 (its run row) and holds in its own object (its job rows).
    const objectFile = runObjectFile(stateDir, runId);
    storage[`fetch${n}`] = {
      jobs: n,
      cut: run.cut,
      d1: grown(d1Before, sqliteBytes(d1File(stateDir))),
      object: objectFile ? jobStoreBytes(objectFile) : null,
    };
    if (!objectFile) report.problems.push(`fetch run ${n}: no SQLite file of its object under ${stateDir}`);

    const pollCost = counted && usage ? await perPollCost(api, cid, runId) : null;
    const walk = await walkJobs(api, cid, runId);
    if (walk.items !== n)
      report.problems.push(`fetch run ${n}: the jobs listing returned ${walk.items} jobs, expected ${n}`);
    if (Object.keys(walk.errors).length) log(`   job errors: ${JSON.stringify(walk.errors)}`);
    if (n === 1_000) {
      smallTarget = { cid, runId, walk };
      // Context for c.: the same GET on an idle Worker, alone and with the 50 pollers but no run working.
      const alone: number[] = [];
      for (let i = 0; i < 20; i++)
        alone.push((await api.call("GET", `${COLLECTIONS}/${cid}/runs/${runId}`, { expect: [200] })).ms);
      const stopIdle = startPollers(api, cid, runId, POLLERS);
      await sleep(6_000);
      statusIdle = { sequential: { p50: pct(alone, 50), p95: pct(alone, 95) }, pollers: await stopIdle() };
      requestProbe = await probeRequests(api, cid, runId);
      log(
        `   status GET on an idle Worker: alone p50 ${fmt(statusIdle.sequential.p50)} / ` +
          `p95 ${fmt(statusIdle.sequential.p95)} ms; ${POLLERS} pollers p50 ${fmt(statusIdle.pollers.p50)} / ` +
          `p95 ${fmt(statusIdle.pollers.p95)} ms`,
      );
    }

    log(`   baseline: Node fetch loop, C=${FETCH_CONCURRENCY}, ${n.toLocaleString("en-US")} URLs …`);
    const base = await fetchBaseline(site.origin, n);
    log(`   baseline ${fmt(base.jobsPerSec)} jobs/s; Worker/baseline = ${fmt(jps / base.jobsPerSec, 3)}`);
    fetchRuns.push({
      jobs: n,
      done: run.done,
      cut: run.cut,
      window: run.window,
      run_id: runId,
      elapsed_ms: elapsedMs,
      post_run_ms: run.postRunMs,
      jobs_per_sec: jps,
      summary,
      job_latency_ms: { p50: pct(walk.totals, 50), p95: pct(walk.totals, 95), samples: walk.totals.length },
      statuses: walk.statuses,
      errors: walk.errors,
      baseline: base,
      ratio: jps / base.jobsPerSec,
      polls,
      queue_batches: run.batches,
      usage,
      usage_uncorrected: usageAll,
      per_poll_usage: pollCost,
      rss_after_mb: workerdRssMb(worker.pid),
    });
  }

  const spread = await spreadRun(api, hosts, 1_000);

  // Quick mode has no 10k run: the pollers get their own 1k run so the smoke covers them too.
  if (!pollerResult) {
    const n = 1_000;
    const cid = (await createCollection(api, "bench pollers", pageRequests(site.origin, n))).id;
    log(`c. ${POLLERS} status pollers during a separate fetch run of ${n} jobs …`);
    let stopPollers: () => Promise<any> = async () => null;
    const pr = await runToEnd(
      api,
      cid,
      n,
      "   pollers run",
      (runId) => {
        stopPollers = startPollers(api, cid, runId, POLLERS);
      },
      60_000,
    );
    pollerResult = {
      ...(await stopPollers()),
      during: `fetch run of ${n}`,
      run_jobs_per_sec: (pr.done * 1000) / pr.elapsedMs,
      run_window: pr.window,
      run_cut: pr.cut,
    };
  } else pollerResult.during = "fetch run of 10,000";
  log(
    `c. status GET under ${POLLERS} pollers: p50 ${fmt(pollerResult.p50)} ms, p95 ${fmt(pollerResult.p95)} ms over ` +
      `${pollerResult.samples} answers; non-200: ${JSON.stringify(pollerResult.non200)}`,
  );

  memory.phases = { after_fetch_runs_mb: workerdRssMb(worker.pid) };
  // ── b. browser mode ──
  const { nb, brun, busage, bpoll, bpps, bbase, browserRun } = await browserSection(api, site.origin, usageOk);

  memory.phases.after_browser_run_mb = workerdRssMb(worker.pid);
  // ── d. listing on a big run (seeded by create + run + cancel) ──
  const nbig = SIZES.bigListing;
  log(`d. seeding a ${nbig.toLocaleString("en-US")}-job run: create, run, cancel …`);
  const bigReqs = pageRequests(site.origin, nbig);
  const idleBig = await idleRssMb(worker.pid);
  const samplerBig = rssSampler(worker.pid);
  const bigCol = await createCollection(api, `bench listing ${nbig}`, bigReqs);
  const bigPeak = samplerBig.stop().peakMb;
  memory[`create${nbig / 1000}k`] = { idle_mb: idleBig, peak_delta_mb: bigPeak - idleBig };
  log(`   create: ${fmt(bigCol.ms, 0)} ms for ${fmt(bigCol.bytes / 1e6, 2)} MB; RSS +${fmt(bigPeak - idleBig, 0)} MB`);
  const tRun = now();
  const bigStart = await api.call("POST", `${COLLECTIONS}/${bigCol.id}/run`, { expect: [201] });
  const bigRunMs = now() - tRun;
  const bigRunId: string = bigStart.body.run_id;
  const cancel = await api.call("POST", `${COLLECTIONS}/${bigCol.id}/runs/${bigRunId}/cancel`, { expect: [200] });
  log(
    `   POST run: ${fmt(bigRunMs, 0)} ms; cancel: ${fmt(cancel.ms, 0)} ms → ${cancel.body.status} ` +
      `(${cancel.body.success_requests} ok, ${cancel.body.failed_requests} failed)`,
  );
  let bigSummary = cancel.body;
  for (let i = 0; bigSummary.status === "in_progress" && i < 240; i++) {
    await sleep(POLL_MS);
    bigSummary = (await api.call("GET", `${COLLECTIONS}/${bigCol.id}/runs/${bigRunId}`, { expect: [200] })).body;
  }
  if (bigSummary.status === "in_progress")
    report.problems.push(`the cancelled ${nbig}-job run is still in progress a minute after cancel`);
  // The run's object creates its jobs in pages after POST /run has answered: the listing is
  // measured over all of them, once the last exists.
  const lastAt = await waitForLastJob(api, bigCol.id, bigRunId, nbig, 600_000);
  const bigCreated = lastAt === null ? null : lastAt - tRun;
  const createdAfter = bigCreated === null ? "— not within 10 min" : `${fmt(bigCreated / 1000, 1)} s after POST run`;
  log(`   all ${nbig.toLocaleString("en-US")} jobs created ${createdAfter}`);
  if (bigCreated === null) report.problems.push(`the ${nbig}-job run's last job did not exist 10 min after POST run`);
  const tWalk = now();
  const bigWalk = await walkJobs(api, bigCol.id, bigRunId);
  log(
    `   walked ${bigWalk.cursors.length} pages (${bigWalk.items} jobs) in ${fmt((now() - tWalk) / 1000)} s; statuses ` +
      `${JSON.stringify(bigWalk.statuses)}`,
  );
  if (bigWalk.items !== nbig) report.problems.push(`listing of the ${nbig}-job run returned ${bigWalk.items} jobs`);
  if (!smallTarget) throw new Error("the 1,000-job fetch run left no run to list");
  const [smallListing, bigListing] = await measureListings(api, [
    smallTarget,
    { cid: bigCol.id, runId: bigRunId, walk: bigWalk },
  ]);
  const listingRatio = bigListing.p95 !== null && smallListing.p95 ? bigListing.p95 / smallListing.p95 : null;
  log(
    `   listing p95: ${fmt(bigListing.p95)} ms at ${nbig.toLocaleString("en-US")} vs ${fmt(smallListing.p95)} ms at ` +
      `1,000 → ×${fmt(listingRatio, 2)}`,
  );

  // ── g. export (before fairness, whose cancelled runs leave jobs in the queue) ──
  const ex = await exportSection(api, {
    origin: worker.origin,
    site: site.origin,
    key: key.body.key,
    pid: worker.pid,
    big: { cid: bigCol.id, runId: bigRunId, jobs: nbig },
  });

  // ── f. fairness between tenants ──
  const fairness: ScenarioResult[] = [];
  log("f. fairness: another tenant's small run behind a backlog …");
  for (const [i, sc] of scenarios(site.origin, SIZES).entries()) {
    // The previous scenario's cancelled run still has released jobs in the queue: let them drain.
    await queueQuiet(worker, 3_000, 120_000);
    fairness.push(await runScenario(worker.origin, api, sc, String(i + 1)));
  }

  // ── h. live events ──
  await queueQuiet(worker, 3_000, 120_000);
  const sse = await liveEvents(api, worker.origin, key.body.key, site.origin);
  // ── i. webhook deliveries to a local receiver ──
  await queueQuiet(worker, 3_000, 120_000);
  report.webhooks = await benchWebhooks(
    api,
    site.origin,
    QUICK ? { burst: 2_000, run: 1_000 } : { burst: 10_000, run: 2_000 },
  );

  // ── storage per job, from the SQLite files ──
  const bigFetch = SIZES.fetchRuns.at(-1)!;
  const bytesBig = storage[`fetch${bigFetch}`];
  // A run's D1 row is the same whether it completed or was cut; its object is not: a cancelled job's
  // row carries no result, so bytes per job come from the largest run that completed.
  const completed = (n: number) => !storage[`fetch${n}`].cut && storage[`fetch${n}`].object;
  const objectRun = [...SIZES.fetchRuns].reverse().find(completed);
  const bytesObject = objectRun ? storage[`fetch${objectRun}`] : null;
  const bobject = runObjectFile(stateDir, brun.runId);
  storage.browser = { jobs: nb, object: bobject ? jobStoreBytes(bobject) : null };
  const d1BytesPerJob = bytesBig.d1.used / bytesBig.jobs;
  const doBytesPerJob = bytesObject ? bytesObject.object.all.allocated / bytesObject.jobs : NaN;
  report.storage = storage;

  // ── print ──
  const lines: string[] = [];
  const out = (s = "") => lines.push(s);
  const n$ = (n: number) => n.toLocaleString("en-US");
  const pair = (a: number | null, b: number | null) => `${fmt(a, 0)} / ${fmt(b, 0)}`;
  out();
  const dirty = report.git?.dirty_files ? ` + ${report.git.dirty_files} uncommitted files` : "";
  const head = `git ${report.git?.head ?? "?"}${dirty}`;
  out(`Scrape API benchmark (${QUICK ? "--quick" : "full"}), ${new Date().toISOString()}, ${head}`);
  out(
    `Local wrangler dev (workerd) on a ${os.cpus().length}-CPU machine, load average ${loadAtStart} at start, ` +
      `${os.loadavg()[0].toFixed(1)} at the end (other work on the box skews both sides): absolute numbers describe ` +
      "this box; the ratios are the point.",
  );
  out();
  out(
    `Throughput (fetch runs on one host at 50 per host unless said; fetch baseline: Node fetch loop over the ` +
      `same URLs, concurrency C = ${FETCH_CONCURRENCY}; browser baseline: ` +
      `puppeteer-core, concurrency ${BROWSER_CONCURRENCY}, tabs in one context or a context per page; "window": jobs ` +
      `the run's object had released at once, ` +
      "sampled each second)",
  );
  const trows: (string | number)[][] = fetchRuns.map((r) => {
    const prev = PREVIOUS.fetch[r.jobs];
    return [
      `fetch ${n$(r.jobs)} jobs${r.jobs === 10_000 ? ` (${POLLERS} pollers)` : ""}`,
      fmt(r.elapsed_ms / 1000, 2),
      `${fmt(r.jobs_per_sec)}${r.cut ? ` (cut, ${r.done} done)` : ""}`,
      prev ? prev.jobsPerSec : "",
      fmt(r.baseline.jobsPerSec),
      fmt(r.ratio, 3),
      prev ? prev.ratio : "",
      pair(r.window.p50, r.window.max),
      fmt(r.job_latency_ms.p50, 0),
      fmt(r.job_latency_ms.p95, 0),
      `${r.summary.success_requests}/${r.jobs}`,
    ];
  });
  trows.push([
    `fetch ${n$(spread.jobs)} jobs over ${FETCH_HOSTS} hosts`,
    fmt(spread.jobs / spread.jobs_per_sec, 2),
    `${fmt(spread.jobs_per_sec)}${spread.cut ? ` (cut, ${spread.done} done)` : ""}`,
    "",
    fmt(spread.baseline.jobsPerSec),
    fmt(spread.jobs_per_sec / spread.baseline.jobsPerSec, 3),
    "",
    pair(spread.window.p50, spread.window.max),
    "",
    "",
    "",
  ]);
  trows.push([
    `browser ${nb} jobs`,
    fmt(browserRun.elapsed_ms / 1000, 2),
    fmt(bpps, 2),
    "",
    "skipped" in bbase ? "skipped" : fmt(bbase.pagesPerSec, 2),
    fmt(browserRun.ratio, 3),
    "",
    pair(brun.window.p50, brun.window.max),
    fmt(browserRun.job_latency_ms.p50, 0),
    fmt(browserRun.job_latency_ms.p95, 0),
    `${brun.summary.success_requests}/${nb}`,
  ]);
  const biso = browserRun.isolated_baseline;
  trows.push([
    `browser ${nb} jobs, baseline with a context per page`,
    "",
    "",
    "",
    "skipped" in biso ? "skipped" : fmt(biso.pagesPerSec, 2),
    fmt(browserRun.isolated_ratio, 3),
    "",
    "",
    "",
    "",
    "",
  ]);
  if (pollerResult.run_jobs_per_sec !== undefined) {
    const jps = `${fmt(pollerResult.run_jobs_per_sec)}${pollerResult.run_cut ? " (cut)" : ""}`;
    const w = pair(pollerResult.run_window.p50, pollerResult.run_window.max);
    trows.push([`fetch 1,000 jobs (${POLLERS} pollers)`, "", jps, "", "", "", "", w, "", "", ""]);
  }
  const then = PREVIOUS.date;
  const theaders = ["run", "wall s", "Worker /s", `/s ${then}`, "baseline /s", "ratio", `ratio ${then}`];
  out(table([...theaders, "window p50/max", "job p50 ms", "job p95 ms", "ok"], trows));
  const brows: (string | number)[][] = [];
  const batchesOf: [string, any][] = [
    ...fetchRuns.map((r): [string, any] => [`fetch ${n$(r.jobs)}`, r.queue_batches]),
    [`browser ${nb}`, browserRun.queue_batches],
  ];
  for (const [label, b] of batchesOf) {
    for (const [q, v] of Object.entries(b ?? {}) as [string, any][]) {
      brows.push([label, q, v.batches, v.messages, fmt(v.p50_ms, 0), fmt(v.p95_ms, 0), `${fmt(v.busy_pct, 0)} %`]);
    }
  }
  if (brows.length) {
    out("Queue consumer (batch durations from the wrangler log; busy/wall over 100 % means batches overlapped)");
    out(table(["run", "queue", "batches", "messages", "batch p50 ms", "batch p95 ms", "busy / wall"], brows));
  }
  out();
  out("Latency (client wall time, ms)");
  const non200 = (r: any) => (Object.keys(r.non200).length ? JSON.stringify(r.non200) : "none");
  const lrows: (string | number)[][] = [
    [
      `GET run status, ${POLLERS} pollers @1/s (${pollerResult.during})`,
      fmt(pollerResult.p50),
      fmt(pollerResult.p95),
      `${pollerResult.samples} ok in ${fmt(pollerResult.seconds, 0)} s; non-200: ${non200(pollerResult)}; ` +
        `busiest 10 s window ${pollerResult.busiest_10s_window.max} requests`,
    ],
  ];
  if (statusIdle) {
    const { sequential, pollers } = statusIdle;
    lrows.push([`GET run status, idle Worker, sequential`, fmt(sequential.p50), fmt(sequential.p95), "20 GETs"]);
    lrows.push([
      `GET run status, idle Worker, ${POLLERS} pollers @1/s`,
      fmt(pollers.p50),
      fmt(pollers.p95),
      `${pollers.samples} ok; non-200: ${non200(pollers)}`,
    ]);
  }
  lrows.push(sseRow(sse));
  for (const [label, l] of [
    ["1,000-job run", smallListing],
    [`${n$(nbig)}-job run`, bigListing],
  ] as const) {
    for (const [pos, v] of Object.entries(l.positions) as [string, any][]) {
      const what = `jobs page of ${LIST_LIMIT}, ${label}, ${pos} (#${v.page + 1}/${l.pages})`;
      lrows.push([what, fmt(v.p50), fmt(v.p95), `${LIST_REPEATS} GETs`]);
    }
    const rows = `${fmt(l.do_rows_read_per_get, 0)} rows read in the run's object per GET`;
    const all = `jobs page of ${LIST_LIMIT}, ${label}, all 3 positions`;
    lrows.push([all, fmt(l.p50), fmt(l.p95), `${3 * LIST_REPEATS} GETs; ${rows}`]);
  }
  lrows.push([
    `create collection of ${n$(SIZES.createSize)} (median of ${createTimes.length})`,
    fmt(median(createTimes), 0),
    `${fmt(Math.max(...createTimes), 0)} (max)`,
    createTimes.map((t) => fmt(t, 0)).join(", "),
  ]);
  const bigMb = fmt(bigCol.bytes / 1e6, 1);
  lrows.push([`create collection of ${n$(nbig)} (${bigMb} MB)`, fmt(bigCol.ms, 0), "", "one POST"]);
  lrows.push([`POST run of ${n$(nbig)}`, fmt(bigRunMs, 0), "", "the object creates 1,000 jobs, releases a window"]);
  const allCreated = bigCreated === null ? "not within 10 min" : fmt(bigCreated, 0);
  lrows.push([`… until all ${n$(nbig)} jobs exist`, allCreated, "", "the object creates the rest in pages (alarm)"]);
  lrows.push([`cancel of that run (${bigWalk.statuses.failed ?? 0} jobs ended)`, fmt(cancel.ms, 0), "", ""]);
  out(table(["what", "p50", "p95", "notes"], lrows));
  out();
  out("Memory (sum of VmRSS of the workerd processes, sampled every 100 ms)");
  const mrows = Object.entries(memory)
    .filter(([k]) => k.startsWith("create"))
    .map(([k, v]: [string, any]) => [k.replace("create", "create of "), fmt(v.idle_mb, 0), fmt(v.peak_delta_mb, 0)]);
  out(table(["during", "idle MB", "peak delta MB"], mrows));
  memory.phases.end_mb = workerdRssMb(worker.pid);
  const rss = fetchRuns.map((r) => `after fetch ${n$(r.jobs)} ${fmt(r.rss_after_mb, 0)} MB`).join(", ");
  out(
    `workerd RSS over the bench: ${rss}, after browser ${fmt(memory.phases.after_browser_run_mb, 0)} MB, ` +
      `end ${fmt(memory.phases.end_mb, 0)} MB`,
  );
  out();

  out('Storage (SQLite dbstat of wrangler dev\'s files; "used" = bytes allocated less the free space in their pages)');
  const srows: (string | number)[][] = [];
  const bytes = (b: number) => (b >= 1e6 ? `${fmt(b / 1e6, 2)} MB` : b >= 1e4 ? `${fmt(b / 1e3, 0)} kB` : `${b} B`);
  const srow = (store: string, over: string, b: number, n: number, digits = 0) => {
    srows.push([store, over, bytes(b), `${fmt(b / n, digits)} B`]);
  };
  for (const n of SIZES.fetchRuns) {
    const b = storage[`fetch${n}`];
    const over = `fetch run of ${n$(n)}${b.cut ? " (cut)" : ""}`;
    srow("D1: what the run added (run row, index entries; used)", over, b.d1.used, n, 3);
    if (b.object) {
      srow("run object: job rows and their indexes (used)", over, b.object.jobs.used, n);
      srow("run object: whole database (file pages)", over, b.object.all.allocated, n);
    }
  }
  if (storage.browser.object) {
    srow("run object: whole database (file pages)", `browser run of ${nb}`, storage.browser.object.all.allocated, nb);
  }
  if (storage.d1_per_request) {
    const { used, requests } = storage.d1_per_request;
    srow("D1: a collection's stored requests (used; per request)", `collection of ${n$(requests)}`, used, requests);
  }
  out(table(["store", "measured over", "bytes", "per job"], srows));
  out();

  // Bytes a run's jobs keep for the retention period, per 1,000 jobs: D1's share and the run object's.
  const stored = (jobs: number, objectBytes: number | undefined) =>
    objectBytes === undefined ? undefined : { d1: d1BytesPerJob * 1000, do: (objectBytes / jobs) * 1000 };
  type Cost = { label: string; jobs: number; u: Counters | null; poll: Counters | null; polls: number; st?: Stored };
  const costOf = ({ label, jobs, u, poll, polls, st }: Cost) => {
    if (!u) return null;
    const incl = per1k(u, jobs);
    const excl = per1k(minus(u, poll, polls), jobs);
    return { label, jobs, polls, incl, excl, dollarsIncl: dollars(incl, st), dollarsExcl: dollars(excl, st) };
  };
  const fetch1k = fetchRuns.find((r) => r.jobs === 1_000);
  const costs = [
    costOf({
      label: "fetch",
      jobs: 1_000,
      u: fetch1k?.usage ?? null,
      poll: fetch1k?.per_poll_usage ?? null,
      polls: fetch1k?.polls ?? 0,
      st: stored(1_000, storage.fetch1000?.object?.all.allocated),
    }),
    costOf({
      label: "browser",
      jobs: nb,
      u: busage,
      poll: bpoll,
      polls: brun.polls,
      st: stored(nb, storage.browser.object?.all.allocated),
    }),
  ].filter((c) => c !== null);
  report.costs = costs;
  if (requestProbe) {
    out("Operations per API request (measured over 5 requests each on an idle Worker)");
    const prows = Object.entries(requestProbe).map(([k, u]) => [
      k,
      fmt(u.d1_statements, 1),
      fmt(u.d1_rows_read, 1),
      fmt(u.do_requests, 1),
      fmt(u.do_sql_rows_read, 1),
    ]);
    out(table(["request", "D1 statements", "D1 rows read", "DO requests", "DO SQLite rows read"], prows));
    out();
  }
  const rowsScaling = fetchRuns
    .filter((r) => r.usage_uncorrected)
    .map((r) => {
      const u = r.usage_uncorrected;
      const perJob = (k: string) => fmt(u[k] / r.jobs, 1);
      return `${n$(r.jobs)}-job run ${perJob("d1_rows_read")} (D1), ${perJob("do_sql_rows_read")} (run object)`;
    });
  if (rowsScaling.length) {
    out(`Rows read per fetch job, status polls included: ${rowsScaling.join("; ")} (flat with size if nothing scans)`);
    out();
  }
  if (costs.length) {
    out(
      "Unit cost per 1,000 jobs, counted by the Worker (BENCH_METRICS, and bench/worker-entry.ts inside the run " +
        `objects) around one run; $ at ${PRICES.label}`,
    );
    out(
      `"excl. polls" subtracts the client's own status polls (every ${POLL_MS} ms), priced by measuring 10 status ` +
        `GETs.`,
    );
    const keys: [string, (c: Counters) => number, number][] = [
      ["D1 statements", (c) => c.d1_statements ?? NaN, 1],
      ["D1 write statements", (c) => c.d1_write_statements ?? NaN, 1],
      ["D1 rows read", (c) => c.d1_rows_read ?? NaN, 0],
      ["D1 rows written", (c) => c.d1_rows_written ?? NaN, 0],
      ["DO requests: calls (Worker and consumers)", (c) => c.do_requests ?? NaN, 1],
      ["DO requests: alarm invocations", (c) => c.do_alarms ?? NaN, 1],
      ["DO SQLite statements", (c) => c.do_sql_statements ?? NaN, 0],
      ["DO SQLite rows read", (c) => c.do_sql_rows_read ?? NaN, 0],
      ["DO SQLite rows written", (c) => c.do_sql_rows_written ?? NaN, 0],
      ["DO setAlarm calls (billed as rows written)", (c) => c.do_set_alarms ?? NaN, 1],
      ["queue operations (3 × messages)", (c) => 3 * (c.queue_messages ?? NaN), 0],
      ["queue send calls", (c) => c.queue_send_calls ?? NaN, 1],
      ["R2 class A", (c) => c.r2_class_a ?? NaN, 0],
      ["R2 class B", (c) => c.r2_class_b ?? NaN, 0],
      ["browser seconds", (c) => (c.browser_ms ?? NaN) / 1000, 1],
      ["browser launches / reuses", () => NaN, 0],
      ["Worker invocations (requests + queue batches)", (c) => c.worker_invocations ?? NaN, 1],
    ];
    const headers = ["per 1,000 jobs"];
    for (const c of costs) headers.push(`${c.label} (${c.jobs} jobs)`, `${c.label} excl. ${c.polls} polls`);
    const rows: (string | number)[][] = keys.map(([name, f, d]) => {
      const row: (string | number)[] = [name];
      for (const c of costs) {
        if (name.startsWith("browser launches")) {
          const u = c.label === "fetch" ? fetch1k.usage : busage;
          row.push(`${u.browser_launches ?? "n/a"} / ${u.browser_reuses ?? "n/a"} (run)`, "");
        } else row.push(fmt(f(c.incl), d), fmt(f(c.excl), d));
      }
      return row;
    });
    const money = (x: number) => `$${x.toFixed(4)}`;
    const parts = ["d1_rows_read", "d1_rows_written", "do_requests", "do_rows_read", "do_rows_written", "queue_ops"];
    for (const part of [...parts, "r2_class_a", "r2_class_b", "browser", "worker_requests", "storage_90_days"]) {
      if (!costs.some((c) => part in c.dollarsIncl.parts)) continue;
      const row: (string | number)[] = [`$ ${part.replaceAll("_", " ")}`];
      for (const c of costs) row.push(money(c.dollarsIncl.parts[part] ?? 0), money(c.dollarsExcl.parts[part] ?? 0));
      rows.push(row);
    }
    const tot: (string | number)[] = ["$ total per 1,000 jobs"];
    for (const c of costs) tot.push(money(c.dollarsIncl.total), money(c.dollarsExcl.total));
    rows.push(tot);
    out(table(headers, rows));
    const P = PRICES;
    out(
      `Prices: D1 $${P.d1RowsReadPerM}/M rows read, $${P.d1RowsWrittenPerM}/M rows written, ` +
        `$${P.d1StoragePerGbMonth}/GB-month; DO $${P.doRequestsPerM}/M requests (calls and alarms; duration not ` +
        `counted), SQLite $${P.doRowsReadPerM}/M rows read, $${P.doRowsWrittenPerM}/M rows written (a setAlarm is ` +
        `one), $${P.doStoragePerGbMonth}/GB-month; Queues $${P.queueOpsPerM}/M operations; ` +
        `R2 A $${P.r2ClassAPerM}/M, B $${P.r2ClassBPerM}/M; Browser Rendering $${P.browserPerHour}/browser hour; ` +
        `Workers $${P.workerRequestsPerM}/M requests (rough: one per queue batch). Storage: each job's D1 and ` +
        `run-object bytes for ${RETENTION_MONTHS} months.`,
    );
    out();
  } else out("Unit cost: skipped (usage counters unavailable)\n");

  out("Fairness (tenant B's run from its POST /run to completion; tenant A's started 2 s earlier, cancelled after)");
  const frows = fairness.map((f) => [
    f.name,
    `${fmt(f.b_ms / 1000, 2)} s (${f.b_status}, ${f.b_success}/${f.b_jobs} ok)`,
    `< ${fmt(f.target_ms / 1000, 0)} s`,
    `${n$(f.a_done_when_b_done)}/${n$(f.a_jobs)}`,
  ]);
  out(table(["scenario", "B's run", "target", "A's jobs done meanwhile"], frows));
  out();

  // ── targets ──
  const targets: { name: string; value: string; pass: boolean | null }[] = [];
  const add = (name: string, value: string, pass: boolean | null) => targets.push({ name, value, pass });
  for (const r of fetchRuns) {
    const prev = PREVIOUS.fetch[r.jobs];
    if (!prev) continue;
    add(
      `fetch ${n$(r.jobs)}${r.jobs === 10_000 ? ` (${POLLERS} pollers)` : ""}: ≥ ${prev.jobsPerSec} jobs/s (${then})`,
      `${fmt(r.jobs_per_sec)} jobs/s${r.cut ? `, cut with ${r.done} done` : ""}; ` +
        `×${fmt(r.ratio, 3)} of the same-run baseline (×${prev.ratio} then)`,
      r.jobs_per_sec >= prev.jobsPerSec,
    );
  }
  add(
    `browser ${nb}: pages/s against puppeteer-core at concurrency ${BROWSER_CONCURRENCY} (compared, no threshold)`,
    "skipped" in bbase
      ? "baseline skipped"
      : `${fmt(bpps, 2)} vs ${fmt(bbase.pagesPerSec, 2)} = ×${fmt(browserRun.ratio, 3)}`,
    null,
  );
  add(
    `browser ${nb}: pages/s against puppeteer-core with a browser context per page (the Worker's isolation)`,
    "skipped" in browserRun.isolated_baseline
      ? "baseline skipped"
      : `${fmt(bpps, 2)} vs ${fmt(browserRun.isolated_baseline.pagesPerSec, 2)} = ` +
          `×${fmt(browserRun.isolated_ratio, 3)}`,
    null,
  );
  add(`D1 bytes per job ≤ 50 (run of ${n$(bigFetch)})`, `${fmt(d1BytesPerJob, 3)} B`, d1BytesPerJob <= 50);
  add(
    "run object bytes per job (capacity table; no threshold)",
    `${fmt(doBytesPerJob, 0)} B (whole database over the ${objectRun ? n$(objectRun) : "?"} jobs of a completed run)`,
    null,
  );
  const fc = costs.find((c) => c.label === "fetch");
  const bc = costs.find((c) => c.label === "browser");
  for (const [label, c, doMax] of [
    ["fetch", fc, 0.05],
    ["browser", bc, 0.1],
  ] as const) {
    if (!c) {
      add(`${label}: D1 write statements per job ≤ 0.01`, "no usage counters", null);
      add(`${label}: DO requests per job ≤ ${doMax}`, "no usage counters", null);
      continue;
    }
    const w = c.excl.d1_write_statements / 1000;
    add(`${label}: D1 write statements per job ≤ 0.01`, `${fmt(w, 4)} per job`, w <= 0.01);
    const calls = c.excl.do_requests / 1000;
    const alarms = (c.excl.do_alarms ?? NaN) / 1000;
    const billed = calls + alarms;
    const withPolls = (c.incl.do_requests + (c.incl.do_alarms ?? 0)) / 1000;
    add(
      `${label}: DO requests per job ≤ ${doMax} (calls + alarms, excl. polls)`,
      `${fmt(billed, 4)} per job (${fmt(calls, 4)} calls + ${fmt(alarms, 4)} alarms; ` +
        `${fmt(withPolls, 4)} with ${c.polls} polls)`,
      Number.isNaN(billed) ? null : billed <= doMax,
    );
  }
  add(
    `listing p95 at ${n$(nbig)} ≤ 1.2 × p95 at 1,000`,
    `${fmt(bigListing.p95)} vs ${fmt(smallListing.p95)} ms = ×${fmt(listingRatio, 2)}`,
    listingRatio !== null && listingRatio <= 1.2,
  );
  const createMed = median(createTimes)!;
  const createTarget = `create of ${n$(SIZES.createSize)} < 2 s (median of ${createTimes.length})`;
  add(createTarget, `${fmt(createMed, 0)} ms`, createMed < 2000);
  add(
    `status p95 < 20 ms under ${POLLERS} pollers`,
    `${fmt(pollerResult.p95)} ms (${pollerResult.during})`,
    pollerResult.p95 !== null && pollerResult.p95 < 20,
  );
  for (const f of fairness) {
    const ok = f.b_status === "completed" && f.b_ms < f.target_ms;
    add(`fairness: ${f.name}: B done < ${fmt(f.target_ms / 1000, 0)} s`, `${fmt(f.b_ms / 1000, 2)} s`, ok);
  }
  out("Targets");
  out(
    table(
      ["target", "measured", "result"],
      targets.map((t) => [t.name, t.value, t.pass === null ? "n/a" : t.pass ? "PASS" : "MISS"]),
    ),
  );
  out();

  // ── capacity ──
  const measured: Measured | null =
    fc && bc && busage && requestProbe && fetch1k && storage.d1_per_request
      ? {
          d1BytesPerRun: bytesBig.d1.used,
          d1BytesPerJob,
          d1BytesPerRequest: storage.d1_per_request.used / storage.d1_per_request.requests,
          doBytesPerJob,
          d1StatementsPerJob: fc.excl.d1_statements / 1000,
          d1StatementsPerRunSecond: fc.excl.d1_statements / (fetch1k.elapsed_ms / 1000),
          d1StatementsPerStatusGet: requestProbe["GET run status"].d1_statements,
          doRequestsPerJob: (fc.excl.do_requests + (fc.excl.do_alarms ?? 0)) / 1000,
          queueMessagesPerJob: fc.excl.queue_messages / 1000,
          browserSecondsPerPage: busage.browser_ms / 1000 / nb,
          browserLaunchesPerPage: busage.browser_launches / nb,
        }
      : null;
  if (measured) {
    const consumeSrc = fs.readFileSync(path.join(PROJECT, "src", "queue", "consume.ts"), "utf8");
    const toml = fs.readFileSync(path.join(PROJECT, "wrangler.toml"), "utf8");
    const connections = Number(/const FETCH_PARALLELISM = (\d+)/.exec(consumeSrc)?.[1]);
    const pagesPerBrowser = Number(/BROWSER_PAGE_CONCURRENCY = "(\d+)"/.exec(toml)?.[1]);
    const settings = consumerSettings(toml, connections, pagesPerBrowser);
    const cap = capacityRows(measured, settings);
    report.capacity = { measured, settings, rows: cap, limits_checked: LIMITS_CHECKED };
    out(
      `Capacity: measured use against Cloudflare's documented limits (read ${LIMITS_CHECKED}; sources in ` +
        "bench/capacity.ts); fetch pages taken as 1 s each in production",
    );
    out(
      table(
        ["resource", "limit", "use (measured)", "ceiling", "past it"],
        cap.map((r) => Object.values(r)),
      ),
    );
  } else out("Capacity: skipped (usage counters, the request probe or a run's figures are missing)");
  out();
  for (const l of ex.lines) out(l);
  if (report.skipped.length) out(`\nSkipped: ${report.skipped.join("; ")}`);
  if (report.problems.length) out(`\nProblems seen: \n- ${report.problems.join("\n- ")}`);

  const errLines = fs
    .readFileSync(worker.logFile, "utf8")
    .split("\n")
    .filter((l) => /error|uncaught|exception/i.test(l));
  if (errLines.length)
    out(
      `\nwrangler log: ${errLines.length} lines mention an error, e.g.\n  ${errLines
        .slice(0, 5)
        .map((l) => l.slice(0, 200))
        .join("\n  ")}`,
    );
  out(
    `\nTotal bench time ${fmt((now() - benchStart) / 1000, 0)} s; 429 waits of control requests: ` +
      `${api.rateLimitedWaits}.`,
  );
  console.log(lines.join("\n"));

  Object.assign(report, {
    finished_at: new Date().toISOString(),
    fetch_runs: fetchRuns,
    fetch_spread: spread,
    browser_run: browserRun,
    status_pollers: pollerResult,
    status_idle: statusIdle,
    request_probe: requestProbe,
    listing: {
      small: { jobs: 1_000, ...smallListing },
      big: { jobs: nbig, ...bigListing },
      p95_ratio: listingRatio,
      walk_big_pages: bigWalk.cursors.length,
    },
    create: {
      size: SIZES.createSize,
      ms: createTimes,
      median_ms: createMed,
      big: { size: nbig, ms: bigCol.ms, bytes: bigCol.bytes },
      big_run_post_ms: bigRunMs,
      big_all_created_ms: bigCreated,
      big_cancel_ms: cancel.ms,
    },
    fairness,
    export: ex.report,
    live_events: sse,
    memory,
    targets,
    wrangler_error_lines: errLines.slice(0, 50),
    rate_limited_waits: api.rateLimitedWaits,
  });
  fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  log(`report written to ${path.relative(process.cwd(), REPORT)}`);
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  exitCode = 1;
  console.error(`bench failed: ${(e as Error).stack ?? e}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
