/**
 * Webhook deliveries to a local receiver (test/support/webhook-receiver.ts, which verifies every
 * delivery with the standardwebhooks package, as a customer's receiver would):
 * - burst: a run of `burst` requests cancelled at once, so its jobs end in one transaction and
 *   `burst / 100` job.completed deliveries (plus its run.completed) are queued together: deliveries
 *   and announced jobs per second, from the cancel to the last receipt;
 * - during a run: a fetch run of `run` pages with job.completed: how many deliveries the coalescing
 *   made, and the time from each job's completed_at to its delivery's receipt (p50/p95).
 *
 * `node bench/webhooks.ts [--quick]` runs it alone against a fresh Worker; `npm run bench` runs it as
 * section i. Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { startTargetSite } from "../test/support/target-site.ts";
import { type Received, startReceiver } from "../test/support/webhook-receiver.ts";
import { client, type Client, fmt, log, now, pct, sleep, startWorker, tempDir } from "./support.ts";

const COLLECTIONS = "/v1/async/collections";

export type WebhookBench = {
  burst: {
    jobs: number;
    deliveries: number;
    /** From the cancel to the last receipt: includes creating the run's remaining jobs, already cancelled. */
    ms: number;
    /** From the first receipt to the last: the delivery pipeline alone. */
    deliveries_per_s: number;
    jobs_per_s: number;
  };
  run: {
    jobs: number;
    deliveries: number;
    jobs_per_delivery: number;
    latency_ms: { p50: number | null; p95: number | null; max: number | null };
  };
  verified: boolean;
};

async function received(receiver: string, hook: string): Promise<Received[]> {
  return (await (await fetch(`${receiver}/received/${hook}`)).json()) as Received[];
}

/** Every delivery of the run, through the log's cursor; the wait ends when none is pending. */
async function settledDeliveries(api: Client, cid: string, runId: string, maxMs: number) {
  const end = now() + maxMs;
  for (;;) {
    const all: any[] = [];
    let cursor: string | null = null;
    do {
      const q = `limit=500${cursor ? `&cursor=${cursor}` : ""}`;
      const r = await api.call("GET", `${COLLECTIONS}/${cid}/runs/${runId}/deliveries?${q}`, { expect: [200] });
      all.push(...r.body.items);
      cursor = r.body.has_more ? r.body.cursor_next : null;
    } while (cursor);
    if (all.length > 0 && all.every((d) => d.status !== "pending")) return all;
    if (now() > end) throw new Error(`deliveries still pending after ${maxMs} ms`);
    await sleep(200);
  }
}

async function hookedCollection(api: Client, site: string, receiver: string, hook: string, n: number) {
  const requests = Array.from({ length: n }, (_, i) => ({ url: `${site}/page/${i}` }));
  const webhook = { url: `${receiver}/hook/${hook}`, events: ["job.completed", "run.completed"] };
  const r = await api.call("POST", COLLECTIONS, {
    // One host: at the default 6 per host the run would measure politeness, not the deliveries (as in run.ts).
    rawBody: JSON.stringify({ name: `webhooks ${hook}`, requests, webhook, politeness: { per_host_concurrency: 50 } }),
    expect: [201],
  });
  return r.body.id as string;
}

export async function benchWebhooks(
  api: Client,
  siteOrigin: string,
  sizes: { burst: number; run: number },
): Promise<WebhookBench> {
  const receiver = await startReceiver();
  try {
    const secret = (await api.call("GET", "/v1/webhooks/secret", { expect: [200] })).body.secret as string;
    const verifyWith = (hook: string) =>
      fetch(`${receiver.origin}/secrets/${hook}`, { method: "PUT", body: JSON.stringify({ secrets: [secret] }) });

    log(`i. webhooks: a run of ${sizes.burst.toLocaleString("en-US")} cancelled at once (a burst of deliveries) …`);
    await verifyWith("burst");
    const bcid = await hookedCollection(api, siteOrigin, receiver.origin, "burst", sizes.burst);
    const brun = (await api.call("POST", `${COLLECTIONS}/${bcid}/run`, { expect: [201] })).body.run_id as string;
    const t0 = Date.now();
    await api.call("POST", `${COLLECTIONS}/${bcid}/runs/${brun}/cancel`, { expect: [200] });
    const bds = await settledDeliveries(api, bcid, brun, 300_000);
    const bgot = await received(receiver.origin, "burst");
    const times = bgot.map((g) => g.at);
    const [first, last] = [Math.min(...times), Math.max(...times)];
    const spanMs = Math.max(1, last - first);
    const burst = {
      jobs: sizes.burst,
      deliveries: bds.length,
      ms: last - t0,
      deliveries_per_s: ((bgot.length - 1) * 1000) / spanMs,
      jobs_per_s: (sizes.burst * 1000) / spanMs,
    };
    log(
      `   ${burst.deliveries} deliveries (${bgot.length} received), the last ${fmt(burst.ms / 1000, 2)} s after ` +
        `the cancel; first to last receipt ${fmt(spanMs / 1000, 2)} s: ${fmt(burst.deliveries_per_s)} deliveries/s, ` +
        `${fmt(burst.jobs_per_s, 0)} jobs announced/s`,
    );

    log(`i. webhooks: a fetch run of ${sizes.run.toLocaleString("en-US")} pages with job.completed …`);
    await verifyWith("run");
    const rcid = await hookedCollection(api, siteOrigin, receiver.origin, "run", sizes.run);
    const rrun = (await api.call("POST", `${COLLECTIONS}/${rcid}/run`, { expect: [201] })).body.run_id as string;
    for (let t = now(); ; await sleep(500)) {
      const r = await api.call("GET", `${COLLECTIONS}/${rcid}/runs/${rrun}`, { expect: [200] });
      if (r.body.status !== "in_progress") break;
      if (now() - t > 600_000) throw new Error("the webhook bench's fetch run did not end in 10 minutes");
    }
    const rds = await settledDeliveries(api, rcid, rrun, 600_000);
    const rgot = await received(receiver.origin, "run");
    const latencies: number[] = [];
    let jobs = 0;
    for (const g of rgot) {
      const body = JSON.parse(g.body) as { type: string; data: { jobs?: { completed_at: string }[] } };
      if (body.type !== "job.completed") continue;
      for (const j of body.data.jobs ?? []) {
        jobs++;
        latencies.push(g.at - Date.parse(j.completed_at));
      }
    }
    const jobDeliveries = rds.filter((d) => d.event === "job.completed").length;
    const run = {
      jobs,
      deliveries: jobDeliveries,
      jobs_per_delivery: jobs / jobDeliveries,
      latency_ms: { p50: pct(latencies, 50), p95: pct(latencies, 95), max: Math.max(...latencies) },
    };
    log(
      `   ${jobs} jobs in ${jobDeliveries} job.completed deliveries (${fmt(run.jobs_per_delivery)} a delivery); ` +
        `completion → receipt p50 ${fmt(run.latency_ms.p50, 0)} ms, p95 ${fmt(run.latency_ms.p95, 0)} ms`,
    );
    const verified = [...bgot, ...rgot].every((g) => g.verified[0] === true);
    if (!verified) log("   some deliveries did not verify with standardwebhooks");
    return { burst, run, verified };
  } finally {
    await receiver.close();
  }
}

/** Alone: a fresh Worker (wrangler dev on a snapshot of src/), the target site and the receiver. */
async function main() {
  const quick = process.argv.includes("--quick");
  const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const tmp = tempDir();
  const site = await startTargetSite();
  const stops: (() => Promise<void>)[] = [];
  try {
    const worker = await startWorker({
      projectDir: project,
      tmp,
      vars: { LOCAL_DEV: "true", ADMIN_TOKEN: "bench-admin", MAX_REQUESTS_PER_COLLECTION: "100000" },
      onSpawn: (stop) => stops.push(stop),
    });
    const api = client(worker.origin);
    api.setAdmin("bench-admin");
    const key = await api.call("POST", "/v1/admin/keys", { auth: "admin", body: { tenant: "bench" }, expect: [201] });
    api.setKey(key.body.key);
    const result = await benchWebhooks(
      api,
      site.origin,
      quick ? { burst: 2_000, run: 1_000 } : { burst: 10_000, run: 2_000 },
    );
    console.log(JSON.stringify({ load_average: os.loadavg(), ...result }, null, 2));
  } finally {
    for (const stop of stops) await stop();
    await site.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
