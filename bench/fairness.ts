/**
 * Fairness between tenants, timed end to end through the API: how long a small run of tenant B
 * takes while tenant A's backlog (hanging pages, or many fast ones) is already in the shared
 * queue. Each scenario uses two fresh tenants and ends by cancelling A's run.
 *
 * Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */
import { client, fmt, log, now, sleep, type Client } from "./support.ts";

const COLLECTIONS = "/v1/async/collections";
/** B starts this long after A, so A's first window is released and waiting in the queue. */
const HEAD_START_MS = 2_000;
const POLL_MS = 250;

export type Scenario = {
  name: string;
  /** A's requests, and B's. */
  a: { url: string; timeout?: number }[];
  b: { url: string }[];
  /** B's run should be complete within this long of its POST /run. */
  targetMs: number;
};

export type ScenarioResult = {
  name: string;
  a_jobs: number;
  b_jobs: number;
  b_ms: number;
  b_status: string;
  b_success: number;
  target_ms: number;
  /** A's finished jobs when B's run had completed: A kept moving meanwhile. */
  a_done_when_b_done: number;
  a_after_cancel: { status: string; sum: number };
};

async function tenant(origin: string, admin: Client, name: string): Promise<Client> {
  const key = await admin.call("POST", "/v1/admin/keys", { auth: "admin", body: { tenant: name }, expect: [201] });
  const api = client(origin);
  api.setKey(key.body.key);
  return api;
}

async function collection(api: Client, name: string, requests: unknown[]): Promise<string> {
  const r = await api.call("POST", COLLECTIONS, { rawBody: JSON.stringify({ name, requests }), expect: [201] });
  if (r.body.total_requests !== requests.length) {
    throw new Error(`collection "${name}" holds ${r.body.total_requests} of ${requests.length} requests`);
  }
  return r.body.id;
}

const done = (s: any) => s.success_requests + s.failed_requests + s.timeout_requests;

export async function runScenario(origin: string, admin: Client, s: Scenario, tag: string): Promise<ScenarioResult> {
  const a = await tenant(origin, admin, `bench-fair-${tag}-a`);
  const b = await tenant(origin, admin, `bench-fair-${tag}-b`);
  // Both collections exist before anything runs: B's time is its run's, not its upload's.
  const aCol = await collection(a, `${s.name} (A)`, s.a);
  const bCol = await collection(b, `${s.name} (B)`, s.b);
  const aRun = (await a.call("POST", `${COLLECTIONS}/${aCol}/run`, { expect: [201] })).body.run_id as string;
  await sleep(HEAD_START_MS);
  const t0 = now();
  const bRun = (await b.call("POST", `${COLLECTIONS}/${bCol}/run`, { expect: [201] })).body.run_id as string;
  let summary: any;
  for (;;) {
    await sleep(POLL_MS);
    summary = (await b.call("GET", `${COLLECTIONS}/${bCol}/runs/${bRun}`, { expect: [200] })).body;
    if (summary.status !== "in_progress") break;
    if (now() - t0 > Math.max(120_000, 4 * s.targetMs)) break;
  }
  const bMs = now() - t0;
  const aNow = (await a.call("GET", `${COLLECTIONS}/${aCol}/runs/${aRun}`, { expect: [200] })).body;
  const cancelled = (await a.call("POST", `${COLLECTIONS}/${aCol}/runs/${aRun}/cancel`, { expect: [200] })).body;
  log(
    `   ${s.name}: B's ${s.b.length} jobs ${summary.status} in ${fmt(bMs / 1000, 2)} s ` +
      `(target < ${fmt(s.targetMs / 1000, 0)} s); A had ${done(aNow)}/${s.a.length} done, cancelled`,
  );
  return {
    name: s.name,
    a_jobs: s.a.length,
    b_jobs: s.b.length,
    b_ms: bMs,
    b_status: summary.status,
    b_success: summary.success_requests,
    target_ms: s.targetMs,
    a_done_when_b_done: done(aNow),
    a_after_cancel: { status: cancelled.status, sum: done(cancelled) },
  };
}

/**
 * The three scenarios of the scale-out issue. The hanging one goes last: its released pages keep
 * consumer slots busy until their timeout even after A's run is cancelled.
 */
export function scenarios(site: string, sizes: { fastBacklog: number; bigRun: number }): Scenario[] {
  const fast = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ url: `${site}/page/${i}?${tag}` }));
  const HANG_TIMEOUT = 20_000;
  return [
    {
      name: `5 pages behind ${sizes.fastBacklog.toLocaleString("en-US")} fast jobs of another tenant`,
      a: fast(sizes.fastBacklog, "a"),
      b: fast(5, "b"),
      targetMs: 5_000,
    },
    {
      name: `10-job run next to a ${sizes.bigRun.toLocaleString("en-US")}-job run of another tenant`,
      a: fast(sizes.bigRun, "big"),
      b: fast(10, "small"),
      targetMs: 5_000,
    },
    {
      name: "5 pages behind 300 never-answering pages (timeout 20 s) of another tenant",
      a: Array.from({ length: 300 }, (_, i) => ({ url: `${site}/hang?${i}`, timeout: HANG_TIMEOUT })),
      b: fast(5, "c"),
      // One job timeout, plus the slack the fairness test allows: B may wait for one batch of A's.
      targetMs: HANG_TIMEOUT + 10_000,
    },
  ];
}
