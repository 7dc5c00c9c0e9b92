/**
 * Live events under load: one client follows a fetch run's event stream from its POST /run to the
 * final run event, resuming with Last-Event-ID whenever a stream ends early (streams last at most
 * 5 minutes), and times each job from its completed_at (the instant its run's object recorded it)
 * to its event reaching the client. The Worker and this process share the machine's clock.
 *
 * Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */
import { readSse, type SseRead } from "../test/support/sse.ts";
import { type Client, fmt, log, now, pct, sleep } from "./support.ts";

const COLLECTIONS = "/v1/async/collections";

export type SseResult = {
  jobs: number;
  run_status: string;
  run_ms: number;
  jobs_per_sec: number;
  events: number;
  /** Jobs that came twice or not at all, against the run's total: both 0 when the stream keeps its promise. */
  duplicates: number;
  missing: number;
  /** Streams opened: 1 + resumptions with Last-Event-ID. */
  streams: number;
  run_events: number;
  keep_alives: number;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /** Events that arrived before their own completed_at: clock skew or a ts bumped past now (last_ts + 1). */
  early: number;
};

/** Runs a collection of `n` fast pages with an SSE client attached; `budgetMs` later the run is cancelled. */
export async function sseLatency(
  api: Client,
  origin: string,
  key: string,
  site: string,
  n: number,
  budgetMs: number,
): Promise<SseResult> {
  const requests = Array.from({ length: n }, (_, i) => ({ url: `${site}/page/${i}` }));
  const col = await api.call("POST", COLLECTIONS, {
    // One host: at the default 6 per host the run would measure politeness, not the stream (as in run.ts).
    rawBody: JSON.stringify({ name: `bench sse ${n}`, requests, politeness: { per_host_concurrency: 50 } }),
    expect: [201],
  });
  if (col.body.total_requests !== n) throw new Error(`sse collection holds ${col.body.total_requests} of ${n}`);
  const cid: string = col.body.id;
  const t0 = now();
  const runId: string = (await api.call("POST", `${COLLECTIONS}/${cid}/run`, { expect: [201] })).body.run_id;
  const latencies: number[] = [];
  const seen = new Map<string, number>();
  let early = 0;
  let streams = 0;
  let runEvents = 0;
  let keepAlives = 0;
  let lastId = "";
  let final: any = null;
  let cutAt: number | null = null;
  const url = `${origin}${COLLECTIONS}/${cid}/runs/${runId}/events`;
  while (!final) {
    if (cutAt === null && now() - t0 > budgetMs) {
      cutAt = now();
      log(`   sse run: over its budget of ${fmt(budgetMs / 1000, 0)} s; cancelling`);
      await api.call("POST", `${COLLECTIONS}/${cid}/runs/${runId}/cancel`, { expect: [200] });
    }
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, accept: "text/event-stream" };
    if (lastId) headers["last-event-id"] = lastId;
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`GET …/events → ${res.status}: ${(await res.text()).slice(0, 300)}`);
    streams++;
    const read: SseRead = await readSse(res, (e) => {
      const arrived = Date.now();
      if (e.event === "job") {
        const job = JSON.parse(e.data);
        const ms = arrived - Date.parse(job.completed_at);
        if (ms < 0) early++;
        latencies.push(ms);
        seen.set(job.job_id, (seen.get(job.job_id) ?? 0) + 1);
      } else if (e.event === "run") {
        runEvents++;
        const s = JSON.parse(e.data);
        if (s.status !== "in_progress") final = s;
      }
      return false;
    });
    keepAlives += read.comments.filter((c) => c === "keep-alive").length;
    lastId = read.lastEventId || lastId;
    if (!final) {
      log(`   sse: stream ${streams} ended after ${seen.size} jobs; resuming with Last-Event-ID`);
      await sleep(read.retry ?? 1_000);
    }
  }
  const runMs = now() - t0;
  const counts = [...seen.values()];
  const done = final.success_requests + final.failed_requests + final.timeout_requests;
  return {
    jobs: n,
    run_status: final.status,
    run_ms: runMs,
    jobs_per_sec: (done * 1000) / runMs,
    events: latencies.length,
    duplicates: counts.filter((c) => c > 1).length,
    missing: n - seen.size,
    streams,
    run_events: runEvents,
    keep_alives: keepAlives,
    latency_ms: {
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      p99: pct(latencies, 99),
      max: latencies.length ? Math.max(...latencies) : null,
    },
    early,
  };
}
