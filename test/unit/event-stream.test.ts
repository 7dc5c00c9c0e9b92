/** The event stream's schedule and text, on a fake clock: what it sends for each read of the run, and when it reads. */
import { describe, expect, it } from "vitest";
import {
  acceptsEventStream,
  eventStream,
  LIFETIME_OVER,
  READS_FAILING,
  RUN_GONE,
  STREAM,
  type StreamPoll,
  type StreamTiming,
} from "../../src/http/event-stream";

type Read = StreamPoll | null | Error;

/**
 * Drives the stream with `script` (the answer to read i at fake time t); sleeping moves the clock.
 * Stops it (as a client going away would) after `maxReads` reads if it has not ended by itself.
 */
async function drive(
  script: (i: number, t: number) => Read,
  o: { timing?: Partial<StreamTiming>; maxReads?: number } = {},
) {
  let t = 0;
  const reads: number[] = [];
  const sleeps: number[] = [];
  const chunks: { at: number; text: string }[] = [];
  const gone = new AbortController();
  const errors: unknown[] = [];
  const poll = async () => {
    const i = reads.length;
    reads.push(t);
    if (i + 1 >= (o.maxReads ?? 1_000)) gone.abort();
    const r = script(i, t);
    if (r instanceof Error) throw r;
    return r;
  };
  const gen = eventStream(poll, {
    timing: { ...STREAM, ...o.timing },
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    signal: gone.signal,
    onError: (e) => errors.push(e),
  });
  for await (const text of gen) chunks.push({ at: t, text });
  const text = chunks.map((c) => c.text).join("");
  return { reads, sleeps, chunks, text, errors, aborted: gone.signal.aborted };
}

const jobs = (from: number, n: number) =>
  Array.from({ length: n }, (_, k) => ({ id: `c${from + k}`, data: `{"job":${from + k}}` }));
const page = (p: Partial<StreamPoll> = {}): StreamPoll => ({ jobs: [], full: false, run: "{}", ended: false, ...p });

/** Parses the stream's text into events (comments and retry fields apart). */
function parse(text: string) {
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const f: Record<string, string> = {};
      for (const line of block.split("\n")) {
        const i = line.indexOf(":");
        f[i === 0 ? "comment" : line.slice(0, i)] = line.slice(i + 1).trim();
      }
      return f;
    });
}

describe("eventStream", () => {
  it("sends retry, each job with its cursor as id, and a final run event once the ended run is read out", async () => {
    const s = await drive((i) =>
      i === 0
        ? page({ jobs: jobs(0, 3), run: '{"n":3}' })
        : page({ jobs: jobs(3, 2), run: '{"n":5,"done":true}', ended: true }),
    );
    const events = parse(s.text);
    expect(events[0]).toEqual({ retry: String(STREAM.retryMs) });
    expect(events.filter((e) => e.event === "job").map((e) => [e.id, e.data])).toEqual(
      jobs(0, 5).map((j) => [j.id, j.data]),
    );
    expect(events.at(-1)).toEqual({ event: "run", data: '{"n":5,"done":true}' });
    expect(s.reads).toHaveLength(2);
    expect(s.aborted).toBe(false);
  });

  it("reads at once after a full page, soon after a partial one, and backs off to idlePollMs when quiet", async () => {
    const script = [
      page({ jobs: jobs(0, 500), full: true }),
      page({ jobs: jobs(500, 500), full: true }),
      page({ jobs: jobs(1000, 7) }),
      page(),
      page(),
      page(),
      page(),
      page(),
      page({ jobs: jobs(1007, 1) }),
      page(),
      page({ ended: true }),
    ];
    const s = await drive((i) => script[i]);
    const f = STREAM.fastPollMs;
    expect(s.sleeps).toEqual([f, 2 * f, 4 * f, STREAM.idlePollMs, STREAM.idlePollMs, STREAM.idlePollMs, f, 2 * f]);
    expect(parse(s.text).filter((e) => e.event === "job")).toHaveLength(1008);
  });

  it("waits for the last page of an ended run before the final run event", async () => {
    const s = await drive((i) =>
      page({ jobs: jobs(i * 500, i < 2 ? 500 : 3), full: i < 2, ended: true, run: `{"r":${i}}` }),
    );
    const events = parse(s.text);
    expect(events.filter((e) => e.event === "job")).toHaveLength(1003);
    // The first read's summary went out as it came (the run had ended by then, its jobs not all read);
    // the final one only after the last page.
    expect(events.filter((e) => e.event === "run").map((e) => e.data)).toEqual(['{"r":0}', '{"r":2}']);
    expect(events.at(-1)!.event).toBe("run");
  });

  it("sends a run event when the summary changed, at most once per runEveryMs", async () => {
    // Counters move on every read (every fastPollMs): run events come 1 s apart, each with the latest summary.
    const s = await drive((i) => page({ jobs: jobs(i, 1), run: `{"n":${i}}` }), { maxReads: 20 });
    const runs = s.chunks.filter((c) => c.text.includes("event: run"));
    expect(runs.length).toBeGreaterThanOrEqual(4);
    for (let k = 1; k < runs.length; k++) expect(runs[k].at - runs[k - 1].at).toBeGreaterThanOrEqual(STREAM.runEveryMs);
    expect(runs.map((c) => parse(c.text).find((e) => e.event === "run")!.data)).toEqual(
      runs.map((c) => `{"n":${c.at / STREAM.fastPollMs}}`),
    );
    // An unchanged summary is not sent again.
    const still = await drive(() => page({ run: '{"n":1}' }), { maxReads: 30 });
    expect(parse(still.text).filter((e) => e.event === "run")).toHaveLength(1);
  });

  it("sends a keep-alive comment after keepAliveMs with nothing else sent, and not before", async () => {
    const s = await drive(() => page(), { maxReads: 40 });
    const alive = s.chunks.filter((c) => c.text === ": keep-alive\n\n").map((c) => c.at);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    // The run event of the first read is the last thing sent before the first keep-alive.
    expect(alive[0]).toBeGreaterThanOrEqual(STREAM.keepAliveMs);
    expect(alive[0]).toBeLessThan(STREAM.keepAliveMs + STREAM.idlePollMs);
    expect(alive[1] - alive[0]).toBeGreaterThanOrEqual(STREAM.keepAliveMs);
  });

  it("ends after maxMs without a final run event, for the client to resume", async () => {
    const s = await drive((i) => page({ jobs: jobs(i, 1), run: `{"n":${i}}` }), { timing: { maxMs: 10_000 } });
    expect(s.text.endsWith(LIFETIME_OVER)).toBe(true);
    expect(s.chunks.at(-1)!.at).toBeGreaterThanOrEqual(10_000);
    expect(s.chunks.at(-1)!.at).toBeLessThan(10_000 + STREAM.idlePollMs);
    expect(s.aborted).toBe(false);
  });

  it("ends with a comment when the run is gone", async () => {
    const s = await drive((i) => (i < 2 ? page({ jobs: jobs(i, 1) }) : null));
    expect(s.text.endsWith(RUN_GONE)).toBe(true);
    expect(s.reads).toHaveLength(3);
  });

  it("retries a failed read after idlePollMs and ends once maxFailures reads in a row failed", async () => {
    const flaky = await drive((i) =>
      i === 0 ? page({ jobs: jobs(0, 1) }) : i < STREAM.maxFailures ? new Error("reset") : page({ ended: true }),
    );
    expect(flaky.errors).toHaveLength(STREAM.maxFailures - 1);
    expect(flaky.sleeps.slice(1)).toEqual(Array(STREAM.maxFailures - 1).fill(STREAM.idlePollMs));
    expect(parse(flaky.text).at(-1)!.event).toBe("run");
    const down = await drive((i) => (i === 0 ? page() : new Error("down")));
    expect(down.errors).toHaveLength(STREAM.maxFailures);
    expect(down.text.endsWith(READS_FAILING)).toBe(true);
  });

  it("reads no more once the client went away", async () => {
    const s = await drive(() => page({ jobs: jobs(0, 1) }), { maxReads: 3 });
    expect(s.reads).toHaveLength(3);
    expect(s.aborted).toBe(true);
  });
});

describe("acceptsEventStream", () => {
  it.each<[string | null, boolean]>([
    [null, true],
    ["", true],
    ["text/event-stream", true],
    ["*/*", true],
    ["text/*", true],
    ["application/json, text/event-stream;q=0.5", true],
    ["Text/Event-Stream", true],
    ["application/json", false],
    ["text/html, application/xhtml+xml", false],
    ["text/event-stream;q=0", false],
    ["text/event-stream;q=0, */*", false],
    ["text/*;q=0, */*", false],
    ["text/event-stream;q=0.1, */*;q=0", true],
  ])("%j → %s", (accept, ok) => {
    expect(acceptsEventStream(accept)).toBe(ok);
  });
});
