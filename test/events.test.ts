/**
 * The live event stream (GET …/runs/{run_id}/events): the same jobs in the same order as the
 * completed_at listing, resumable with Last-Event-ID or ?after without a job missed or repeated,
 * run events whose counters only grow and end on the final summary, and the stream's refusals.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { RunCoordinator } from "../src/do/run-coordinator";
import {
  allJobs,
  api,
  createCollection,
  getRun,
  type JobView,
  newTenant,
  type RunSummary,
  runToCompletion,
  startRun,
  target,
  waitForRun,
} from "./support/api";
import { readSse, type SseEvent, type SseRead } from "./support/sse";

const SSE = { accept: "text/event-stream" };

const eventsPath = (cid: string, runId: string, query = "") =>
  `/v1/async/collections/${cid}/runs/${runId}/events${query}`;

async function open(
  key: string,
  cid: string,
  runId: string,
  o: { query?: string; headers?: Record<string, string> } = {},
) {
  const res = await api(eventsPath(cid, runId, o.query), { key, headers: { ...SSE, ...o.headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return res;
}

const jobsOf = (r: SseRead) => r.events.filter((e) => e.event === "job");
const runsOf = (r: SseRead) => r.events.filter((e) => e.event === "run").map((e) => JSON.parse(e.data) as RunSummary);
const parsed = (es: SseEvent[]) => es.map((e) => JSON.parse(e.data) as JobView);

/** The completed_at listing, which the stream must agree with job for job. */
const byCompletion = (key: string, cid: string, runId: string) =>
  allJobs(key, cid, runId, "limit=500&order_by=completed_at");

/** Every run event's counters at least those of the one before, and the last one the run's final summary. */
function expectRunEvents(runs: RunSummary[], final: RunSummary) {
  expect(runs.length).toBeGreaterThan(0);
  for (let i = 1; i < runs.length; i++) {
    for (const k of ["success_requests", "failed_requests", "timeout_requests"] as const) {
      expect(runs[i][k], `run event ${i}: ${k}`).toBeGreaterThanOrEqual(runs[i - 1][k]);
    }
  }
  expect(runs.at(-1)).toEqual(final);
}

describe("the event stream of a 1,000-job run", () => {
  it("gives two clients, one resuming with Last-Event-ID halfway, exactly the listing's jobs in order", async () => {
    const { key } = await newTenant();
    // Every tenth page answers 404, so failed jobs are in the stream as well as successes.
    const requests = Array.from({ length: 1_000 }, (_, i) => ({
      url: target(i % 10 === 9 ? `/status/404?n=${i}` : `/page/${i}`),
      custom_id: `r${i}`,
    }));
    const col = await createCollection(key, requests);
    const run = await startRun(key, col.id);

    const whole = (async () => readSse(await open(key, col.id, run.run_id)))();
    const resumed = (async () => {
      // Goes away after its 500th job, as a client whose connection broke would.
      const first = await readSse(await open(key, col.id, run.run_id), (_e, r) => jobsOf(r).length === 500);
      expect(first.ended).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      const rest = await readSse(
        await open(key, col.id, run.run_id, { headers: { "last-event-id": first.lastEventId } }),
      );
      return { first, rest };
    })();
    const [a, b] = await Promise.all([whole, resumed]);
    const final = await waitForRun(key, col.id, run.run_id);
    expect(final.status).toBe("completed");
    expect(final.failed_requests).toBe(100);

    const listed = await byCompletion(key, col.id, run.run_id);
    expect(listed).toHaveLength(1_000);
    // Client A: the whole run, job for job as the listing has it, and the stream closed by the server.
    expect(a.ended).toBe(true);
    expect(a.retry).toBe(1_000);
    expect(parsed(jobsOf(a))).toEqual(listed);
    // Client B: its first 500 and the rest after resuming are the same 1,000, none twice.
    expect(jobsOf(b.first)).toHaveLength(500);
    expect(b.rest.ended).toBe(true);
    const bJobs = [...parsed(jobsOf(b.first)), ...parsed(jobsOf(b.rest))];
    expect(bJobs.map((j) => j.job_id)).toEqual(listed.map((j) => j.job_id));
    expect(new Set(bJobs.map((j) => j.job_id)).size).toBe(1_000);
    // Every job event carries its own id; run events carry none.
    expect(a.events.every((e) => e.hasId === (e.event === "job"))).toBe(true);

    // The run was live when the stream opened, and its run events only moved forward to the final summary.
    const aRuns = runsOf(a);
    expect(aRuns[0].status).toBe("in_progress");
    expectRunEvents(aRuns, final);
    expectRunEvents([...runsOf(b.first), ...runsOf(b.rest)], final);

    // An event id is the listing's cursor: the listing after the 500th event is the stream's next 500 jobs.
    const aJobs = jobsOf(a);
    const page = await api(
      `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?order_by=completed_at&limit=500` +
        `&cursor=${aJobs[499].lastEventId}`,
      { key },
    );
    expect(((await page.json()) as { items: JobView[] }).items).toEqual(parsed(aJobs.slice(500)));
    // And a since_completed_at poll from a job's instant returns the stream's jobs completed after it.
    const since = parsed(aJobs)[499].completed_at!;
    const polled = await allJobs(
      key,
      col.id,
      run.run_id,
      `limit=500&order_by=completed_at&since_completed_at=${since}`,
    );
    expect(polled).toEqual(parsed(aJobs).filter((j) => j.completed_at! > since));
  }, 120_000);
});

describe("the event stream of a finished run", () => {
  it("replays from the start or after a cursor (?after, Last-Event-ID, cursor_next) and closes", async () => {
    const { key } = await newTenant();
    const { col, run } = await runToCompletion(
      key,
      Array.from({ length: 20 }, (_, i) => ({ url: target(`/page/${i}`) })),
    );
    const listed = await byCompletion(key, col.id, run.run_id);
    const final = await getRun(key, col.id, run.run_id);

    const all = await readSse(await open(key, col.id, run.run_id));
    expect(all.ended).toBe(true);
    expect(parsed(jobsOf(all))).toEqual(listed);
    // One run event, the last thing sent: the final summary.
    expect(runsOf(all)).toEqual([final]);
    expect(all.events.at(-1)!.event).toBe("run");

    const tenth = jobsOf(all)[9].lastEventId;
    const after = await readSse(await open(key, col.id, run.run_id, { query: `?after=${tenth}` }));
    expect(after.ended).toBe(true);
    expect(parsed(jobsOf(after))).toEqual(listed.slice(10));
    expect(runsOf(after)).toEqual([final]);

    // Last-Event-ID is the newer position (EventSource reconnects to the same URL): it wins over ?after.
    const fifteenth = jobsOf(all)[14].lastEventId;
    const header = await readSse(
      await open(key, col.id, run.run_id, { query: `?after=${tenth}`, headers: { "last-event-id": fifteenth } }),
    );
    expect(parsed(jobsOf(header))).toEqual(listed.slice(15));

    // Resuming after the last job: nothing to replay, the final summary, closed.
    const end = await readSse(
      await open(key, col.id, run.run_id, { headers: { "last-event-id": jobsOf(all)[19].lastEventId } }),
    );
    expect(end.ended).toBe(true);
    expect(jobsOf(end)).toHaveLength(0);
    expect(runsOf(end)).toEqual([final]);

    // A completed_at listing's cursor_next is an `after`.
    const page = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?order_by=completed_at&limit=5`, {
      key,
    });
    const { cursor_next } = (await page.json()) as { cursor_next: string };
    const fromListing = await readSse(await open(key, col.id, run.run_id, { query: `?after=${cursor_next}` }));
    expect(parsed(jobsOf(fromListing))).toEqual(listed.slice(5));

    // Served without an Accept header, or with */*.
    for (const accept of [undefined, "*/*"]) {
      const res = await api(eventsPath(col.id, run.run_id), { key, headers: accept ? { accept } : {} });
      expect(res.status, String(accept)).toBe(200);
      expect(jobsOf(await readSse(res))).toHaveLength(20);
    }
  });

  it("of a cancelled run holds every job, ended as cancelled, and the cancelled summary last", async () => {
    const { key } = await newTenant();
    const col = await createCollection(
      key,
      Array.from({ length: 30 }, (_, i) => ({ url: target(`/hang?${i}`), timeout: 2_000 })),
    );
    const run = await startRun(key, col.id);
    const stream = (async () => readSse(await open(key, col.id, run.run_id)))();
    await new Promise((r) => setTimeout(r, 300));
    const cancel = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key });
    expect(cancel.status).toBe(200);
    const read = await stream;
    const final = await getRun(key, col.id, run.run_id);
    expect(final.status).toBe("cancelled");
    expect(read.ended).toBe(true);
    expect(parsed(jobsOf(read))).toEqual(await byCompletion(key, col.id, run.run_id));
    expect(jobsOf(read)).toHaveLength(30);
    expectRunEvents(runsOf(read), final);
  });
});

describe("the event stream of a run cancelled before all its jobs exist", () => {
  it("waits for the jobs created after the cancel (already ended) before its final run event", async () => {
    // The run's object lives in the tests' isolate: with its alarm stubbed, POST /run creates only
    // the first page of 1,000 jobs, and the other 500 wait for the alarm this test runs itself.
    const alarm = vi.spyOn(RunCoordinator.prototype, "alarm").mockResolvedValue(undefined);
    try {
      const { key } = await newTenant();
      const col = await createCollection(
        key,
        Array.from({ length: 1_500 }, (_, i) => ({ url: target(`/page/${i}`) })),
      );
      const run = await startRun(key, col.id);
      const cancel = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key });
      expect(((await cancel.json()) as RunSummary).status).toBe("cancelled");
      let received = 0;
      let settled = false;
      const reading = (async () => {
        const r = await readSse(await open(key, col.id, run.run_id), (e) => {
          if (e.event === "job") received++;
          return false;
        });
        settled = true;
        return r;
      })();
      for (let i = 0; i < 100 && received < 1_000; i++) await new Promise((r) => setTimeout(r, 100));
      expect(received).toBe(1_000);
      // The run is cancelled and every job that exists was sent, yet the stream stays open.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(settled).toBe(false);
      alarm.mockRestore();
      const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
      await runInDurableObject(stub, (object: RunCoordinator) => object.alarm());
      const read = await reading;
      expect(read.ended).toBe(true);
      expect(parsed(jobsOf(read))).toEqual(await byCompletion(key, col.id, run.run_id));
      expect(jobsOf(read)).toHaveLength(1_500);
      const final = await getRun(key, col.id, run.run_id);
      expect(runsOf(read).at(-1)).toEqual(final);
    } finally {
      alarm.mockRestore();
    }
  });
});

describe("a client going away", () => {
  it("stops the stream's reads of the run's object", async () => {
    // The run's object lives in the tests' isolate, so its reads can be counted.
    const reads = vi.spyOn(RunCoordinator.prototype, "listJobs");
    try {
      const { key } = await newTenant();
      const col = await createCollection(
        key,
        Array.from({ length: 5 }, (_, i) => ({ url: target(`/hang?${i}`), timeout: 5_000 })),
      );
      const run = await startRun(key, col.id);
      const reader = (await open(key, col.id, run.run_id)).body!.getReader();
      await reader.read();
      const at = reads.mock.calls.length;
      await new Promise((r) => setTimeout(r, 3_000));
      // A quiet run is still read (backing off towards once a second) while the client is there …
      const whileOpen = reads.mock.calls.length - at;
      expect(whileOpen).toBeGreaterThanOrEqual(2);
      await reader.cancel();
      const cancelledAt = reads.mock.calls.length;
      await new Promise((r) => setTimeout(r, 3_000));
      // … and not once it has gone (one read already under way may still finish).
      expect(reads.mock.calls.length - cancelledAt).toBeLessThanOrEqual(1);
      await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key });
    } finally {
      reads.mockRestore();
    }
  });
});

describe("the event stream in OpenAPI", () => {
  it("is documented as text/event-stream with its resume parameters and its 406", async () => {
    const doc = (await (await api("/v1/openapi.json")).json()) as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    const op = doc.paths["/v1/async/collections/{id}/runs/{run_id}/events"].get as {
      operationId: string;
      tags: string[];
      description: string;
      parameters: { name: string; in: string }[];
      responses: Record<string, { content: Record<string, unknown> }>;
    };
    expect(op.operationId).toBe("streamRunEvents");
    expect(op.tags.length).toBeGreaterThan(0);
    expect(Object.keys(op.responses[200].content)).toEqual(["text/event-stream"]);
    expect(op.description).toMatch(/event: job.*event: run.*keep-alive.*Last-Event-ID/s);
    expect(op.parameters.map((p) => `${p.in} ${p.name}`)).toEqual(
      expect.arrayContaining(["query after", "header last-event-id"]),
    );
    for (const status of ["400", "404", "406"])
      expect(op.responses[status].content).toHaveProperty(["application/problem+json"]);
  });
});

describe("the event stream refuses", () => {
  it("a bad cursor with 400, another tenant's or an unknown run with 404, an Accept without it with 406", async () => {
    const { key } = await newTenant();
    const other = await newTenant();
    const { col, run } = await runToCompletion(key, [{ url: target("/ok") }]);
    // A cursor of the created_at listing is not an event id.
    const createdCursor = btoa(JSON.stringify(["jobs:created_at", 0])).replaceAll("=", "");
    const bad: [string, Record<string, string>, string][] = [
      ["?after=not-a-cursor", {}, "after"],
      [`?after=${createdCursor}`, {}, "after"],
      ["", { "last-event-id": "bm90IGpzb24" }, "last-event-id"],
      ["?after=", { "last-event-id": "x" }, "last-event-id"],
    ];
    for (const [query, headers, path] of bad) {
      const res = await api(eventsPath(col.id, run.run_id, query), { key, headers: { ...SSE, ...headers } });
      expect(res.status, `${query} ${JSON.stringify(headers)}`).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      const body = (await res.json()) as { detail: string; errors: { path: string }[] };
      expect(body.errors[0].path).toBe(path);
      expect(body.detail).toMatch(/event id/);
    }
    const missing: [string, string][] = [
      [other.key, eventsPath(col.id, run.run_id)],
      [key, eventsPath(col.id, crypto.randomUUID())],
      [key, eventsPath(crypto.randomUUID(), run.run_id)],
    ];
    for (const [k, path] of missing) {
      const res = await api(path, { key: k, headers: SSE });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    for (const accept of ["application/json", "text/event-stream;q=0, */*"]) {
      const res = await api(eventsPath(col.id, run.run_id), { key, headers: { accept } });
      expect(res.status, accept).toBe(406);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/text\/event-stream/);
    }
  });
});
