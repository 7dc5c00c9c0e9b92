/**
 * The live event stream of a run (Server-Sent Events), independent of where its pages come from:
 * the route hands it a `poll` that reads one page of the run's object, and it decides what to send
 * and when to read again. Time and sleeping are passed in, so its schedule is tested without waiting.
 */

/** One read of the run: the jobs finished after the previous read's last, and the run as it was then. */
export interface StreamPoll {
  /** `job` events in completion order: the job's cursor (the event id) and its JSON. */
  jobs: { id: string; data: string }[];
  /** More finished jobs wait behind this page: read again at once. */
  full: boolean;
  /** The run's summary as JSON, read in the same call as `jobs`. */
  run: string;
  /** The run has ended and all its jobs exist, so no job can finish after those read so far. */
  ended: boolean;
}

export interface StreamTiming {
  /** A comment after this long without anything else sent, so proxies and clients see the stream alive. */
  keepAliveMs: number;
  /** At most one `run` event per this long while the run is in progress. */
  runEveryMs: number;
  /** The next read after a page with some jobs in it. */
  fastPollMs: number;
  /** Reads of a quiet run back off (doubling) to this. */
  idlePollMs: number;
  /** The stream ends cleanly after this long; the client resumes with Last-Event-ID. */
  maxMs: number;
  /** The reconnection delay the stream asks of EventSource clients (`retry:`). */
  retryMs: number;
  /** Consecutive failed reads (each retried after idlePollMs) before the stream ends for the client to resume. */
  maxFailures: number;
}

/**
 * A stream lives at most 5 minutes. When the Workers runtime is updated, requests in flight drain on
 * the previous version for a grace period (up to 20 minutes) and are then cut: a stream ends cleanly
 * well inside it and resumes on the new version, as it does after a deploy of this Worker. A client
 * that vanished without closing its connection costs at most 5 minutes of reads, and resuming with
 * Last-Event-ID is a path every client takes routinely, not only after a network failure. Each
 * read is one call to the run's object, which answers it and may then hibernate.
 */
export const STREAM: StreamTiming = {
  keepAliveMs: 15_000,
  runEveryMs: 1_000,
  fastPollMs: 250,
  idlePollMs: 1_000,
  maxMs: 5 * 60_000,
  retryMs: 1_000,
  maxFailures: 5,
};

export interface StreamDeps {
  timing: StreamTiming;
  now: () => number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Aborted when the client went away: no read after that. */
  signal: AbortSignal;
  onError?: (e: unknown) => void;
}

const jobEvent = (e: { id: string; data: string }) => `event: job\nid: ${e.id}\ndata: ${e.data}\n\n`;
const runEvent = (run: string) => `event: run\ndata: ${run}\n\n`;
export const LIFETIME_OVER = ": this stream's time is up; reconnect with Last-Event-ID to go on\n\n";
export const READS_FAILING = ": the run cannot be read just now; reconnect with Last-Event-ID to go on\n\n";
export const RUN_GONE = ": the run no longer exists\n\n";

/**
 * The stream's text, chunk by chunk: `retry:` first, then for each read its `job` events, a `run`
 * event when the summary changed (throttled), a keep-alive when nothing was sent for a while; after
 * the read that shows the run ended with no page left, the final `run` event, and the end.
 */
export async function* eventStream(poll: () => Promise<StreamPoll | null>, d: StreamDeps): AsyncGenerator<string> {
  const t = d.timing;
  const started = d.now();
  let lastWrite = started;
  let sentRun: string | null = null;
  let sentRunAt = Number.NEGATIVE_INFINITY;
  let delay = t.fastPollMs;
  let failures = 0;
  yield `retry: ${t.retryMs}\n\n`;
  while (!d.signal.aborted) {
    let page: StreamPoll | null | undefined;
    try {
      page = await poll();
      failures = 0;
    } catch (e) {
      d.onError?.(e);
      if (++failures >= t.maxFailures) {
        yield READS_FAILING;
        return;
      }
    }
    if (d.signal.aborted) return;
    if (page === null) {
      yield RUN_GONE;
      return;
    }
    let out = page ? page.jobs.map(jobEvent).join("") : "";
    if (page?.ended && !page.full) {
      yield out + runEvent(page.run);
      return;
    }
    const at = d.now();
    if (page && page.run !== sentRun && at - sentRunAt >= t.runEveryMs) {
      out += runEvent(page.run);
      sentRun = page.run;
      sentRunAt = at;
    }
    if (!out && at - lastWrite >= t.keepAliveMs) out = ": keep-alive\n\n";
    if (out) {
      lastWrite = at;
      yield out;
    }
    if (at - started >= t.maxMs) {
      yield LIFETIME_OVER;
      return;
    }
    delay = !page ? t.idlePollMs : page.full ? 0 : page.jobs.length ? t.fastPollMs : Math.min(t.idlePollMs, delay * 2);
    if (delay > 0) await d.sleep(delay, d.signal);
  }
}

/** A timer that an abort cuts short. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * Whether an Accept header lets the stream be served: absent, or naming text/event-stream, text/*
 * or *\/* with a weight above 0, the most specific range deciding (`text/event-stream;q=0, *\/*` refuses).
 */
export function acceptsEventStream(accept: string | null | undefined): boolean {
  if (!accept?.trim()) return true;
  const weight = new Map<string, number>();
  for (const part of accept.split(",")) {
    const [range, ...params] = part.split(";").map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    const w = q === undefined ? 1 : Number(q.slice(2));
    weight.set(range, Number.isFinite(w) ? w : 1);
  }
  const w = weight.get("text/event-stream") ?? weight.get("text/*") ?? weight.get("*/*");
  return w !== undefined && w > 0;
}
