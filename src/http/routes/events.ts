import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock";
import type { JobQuery } from "../../do/run-coordinator";
import { runObject } from "../../do/objects";
import { EventsHeaders, EventsQuery, RunParams } from "../../schemas";
import { CursorError } from "../cursor";
import { ApiError, notFound } from "../errors";
import { abortableSleep, acceptsEventStream, eventStream, STREAM, type StreamPoll } from "../event-stream";
import { jobView, runView } from "../views";
import { errorResponses, notAcceptable, router, security } from "./common";
import { completionCursor, decodeCompletionCursor } from "./jobs";

export const events = router();

/** Jobs per read of the run's object: a listing's largest page. */
const PAGE = 500;

const route = createRoute({
  method: "get",
  path: "/{id}/runs/{run_id}/events",
  operationId: "streamRunEvents",
  tags: ["Runs"],
  summary: "Live events of a run (Server-Sent Events)",
  description:
    "A `text/event-stream` of the run's finished jobs and its counters. `event: job` (`id:` the job's " +
    "completion cursor, `data:` the Job as the jobs listing shows it) for every finished job, in the order and " +
    "with the cursors of `order_by=completed_at`: the same jobs a `since_completed_at` poll returns. " +
    "`event: run` (`data:` the RunSummary) when the counters change, at most once a second, and once at " +
    "the end (status no longer in_progress), after which the stream closes. `: keep-alive` comments every " +
    "15 s. `Last-Event-ID` (or `?after=`, the header winning) resumes after that job: none missed, none " +
    "repeated; an id is also a `cursor` of the completed_at listing and its `cursor_next` an `after`. " +
    "A finished run replays from the start (or the cursor) and closes. A stream lasts at most 5 minutes and " +
    "then closes without the final run event: reconnect with Last-Event-ID (EventSource does so by itself, " +
    "after the `retry:` of 1 s; close it on the final run event). An Accept header that rules out " +
    "text/event-stream is 406; none, `*/*` or `text/*` are served.",
  security,
  request: { params: RunParams, query: EventsQuery, headers: EventsHeaders },
  responses: {
    200: {
      content: {
        "text/event-stream": {
          schema: z.string().openapi({
            description:
              "SSE: `event: job` / `id: <cursor>` / `data: <Job JSON>`; `event: run` / `data: <RunSummary JSON>`; " +
              "`: keep-alive`",
          }),
        },
      },
      description: "The event stream",
    },
    ...errorResponses,
    ...notAcceptable,
  },
});

/** The resume point: Last-Event-ID (sent by EventSource on reconnection, so the newer) before `?after`. */
function resumeAfter(header: string | undefined, after: string | undefined) {
  const [path, cursor] = header ? ["last-event-id", header] : ["after", after];
  try {
    return decodeCompletionCursor(cursor) ?? undefined;
  } catch (e) {
    if (!(e instanceof CursorError)) throw e;
    throw new ApiError("bad_request", `The ${path} is not an event id of this stream; pass an id it sent unchanged.`, {
      errors: [{ path, message: "not an event id (a job cursor of order_by=completed_at)" }],
    });
  }
}

events.openapi(route, async (c) => {
  const { id, run_id } = c.req.valid("param");
  const { after } = c.req.valid("query");
  const header = c.req.valid("header")["last-event-id"];
  if (!acceptsEventStream(c.req.header("accept"))) {
    throw new ApiError(
      "not_acceptable",
      "This route answers with text/event-stream only; send Accept: text/event-stream.",
    );
  }
  const object = runObject(c.env, run_id);
  const q: JobQuery = {
    tenant: c.get("tenant"),
    collection_id: id,
    order: "completed_at",
    after: resumeAfter(header, after),
    limit: PAGE,
  };
  /** One read of the object; the next read starts after this page's last job. */
  const read = async (): Promise<StreamPoll | null> => {
    const page = await object.listJobs(q);
    if (!page) return null;
    const t = now();
    const last = page.rows.at(-1);
    if (last) q.after = { completed_ms: last.completed_ms!, seq: last.seq };
    const { run } = page;
    return {
      jobs: page.rows.map((r) => ({ id: completionCursor(r), data: JSON.stringify(jobView(run, r, t)) })),
      full: page.has_more,
      run: JSON.stringify(runView(run)),
      // Jobs of a cancelled run may still be being created (already ended): the end waits for them.
      ended: run.status !== "in_progress" && run.created_jobs >= run.total,
    };
  };
  // The first page is read before answering, so an unknown run (or another tenant's) is a 404 problem.
  const first = await read();
  if (!first) throw notFound("Run");
  let pending: StreamPoll | null = first;
  const poll = async () => {
    const p = pending ?? (await read());
    pending = null;
    return p;
  };
  const gone = new AbortController();
  const chunks = eventStream(poll, {
    timing: STREAM,
    // Wall time, not clock.ts's now(): a test that pins that clock would otherwise never end a stream.
    now: Date.now,
    sleep: abortableSleep,
    signal: gone.signal,
    onError: (e) => console.error("event stream: reading the run failed; retrying", e),
  });
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    // Pulled, so the object is read only as fast as the client takes the events.
    async pull(controller) {
      const next = await chunks.next();
      if (gone.signal.aborted) return;
      if (next.done) controller.close();
      else controller.enqueue(enc.encode(next.value));
    },
    cancel() {
      gone.abort();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // Tells buffering proxies (nginx and the like) to pass each event on as it comes.
      "x-accel-buffering": "no",
    },
  }) as never;
});
