/**
 * A Server-Sent Events reader for the tests, following the WHATWG parsing rules: lines end in CRLF,
 * LF or CR; `field: value` with one optional space after the colon; `data` lines join with "\n";
 * an empty line dispatches the event (none when no data came); `id` sets the last event id, which
 * outlives events without one; lines starting with ":" are comments.
 */
export interface SseEvent {
  event: string;
  data: string;
  /** The last event id when this event was dispatched (what EventSource reports as lastEventId). */
  lastEventId: string;
  /** Whether this event carried an `id` field itself. */
  hasId: boolean;
}

export interface SseRead {
  events: SseEvent[];
  comments: string[];
  retry: number | null;
  lastEventId: string;
  /** The server closed the stream (rather than the reader stopping). */
  ended: boolean;
}

/**
 * Reads `res` until the server ends it, or until `stop(event, read)` returns true, after which the
 * body is cancelled as a client going away would.
 */
export async function readSse(
  res: Response,
  stop: (e: SseEvent, read: SseRead) => boolean = () => false,
): Promise<SseRead> {
  const out: SseRead = { events: [], comments: [], retry: null, lastEventId: "", ended: false };
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data: string[] = [];
  let type = "";
  let hasId = false;
  const line = (l: string): boolean => {
    if (l === "") {
      if (data.length) {
        const e = { event: type || "message", data: data.join("\n"), lastEventId: out.lastEventId, hasId };
        out.events.push(e);
        if (stop(e, out)) return true;
      }
      [data, type, hasId] = [[], "", false];
      return false;
    }
    if (l.startsWith(":")) {
      out.comments.push(l.slice(1).trim());
      return false;
    }
    const i = l.indexOf(":");
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? "" : l.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") type = value;
    else if (field === "id" && !value.includes("\0")) [out.lastEventId, hasId] = [value, true];
    else if (field === "retry" && /^\d+$/.test(value)) out.retry = Number(value);
    return false;
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      out.ended = true;
      return out;
    }
    buf += value;
    // A CR at the very end may be the first half of a CRLF: it waits for the next chunk.
    const parts = buf.split(/\r\n|\n|\r(?!$)/);
    buf = parts.pop()!;
    for (const l of parts) {
      if (line(l)) {
        await reader.cancel();
        return out;
      }
    }
  }
}
