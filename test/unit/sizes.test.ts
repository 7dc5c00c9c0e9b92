/**
 * Sizes in UTF-8 bytes and the chunkers built on them, at the edges where UTF-16 length and bytes
 * part: "é" (1 unit, 2 bytes), "漢" (1, 3), "😀" (2, 4).
 */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { requestChunks, type RequestRow } from "../../src/db/collections";
import type { JobSpec } from "../../src/domain";
import { buildJobMessage, sendBatches } from "../../src/queue/dispatch";
import { parseQueueMessage } from "../../src/queue/messages";
import {
  chunkBySize,
  D1_CHUNK_BYTES,
  jsonBytes,
  MAX_MESSAGE_BODY_BYTES,
  OversizeItem,
  PLATFORM,
  requestBytes,
  utf8Bytes,
} from "../../src/sizes";

const spec = (actions: JobSpec["actions"] = []): JobSpec => ({
  screenshot: false,
  full_page: false,
  actions,
  timeout: 30_000,
});
const uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

/** A deterministic mix of 1-, 2-, 3- and 4-byte characters. */
function mixed(seed: number, n: number): string {
  const alphabet = ["a", "é", "漢", "😀", '"', "\\"];
  let x = seed;
  let s = "";
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

describe("utf8Bytes", () => {
  it.each([
    ["", 0, 0],
    ["a", 1, 1],
    ["é", 1, 2],
    ["€", 1, 3],
    ["漢字", 2, 6],
    ["😀", 2, 4],
    ["a😀é漢", 5, 10],
    ["\ud800", 1, 3], // a lone surrogate is written as U+FFFD
  ])("%j: %i UTF-16 units, %i bytes", (s, units, bytes) => {
    expect(s.length).toBe(units);
    expect(utf8Bytes(s)).toBe(bytes);
  });

  it("measures JSON as sent, escapes included", () => {
    expect(jsonBytes("é")).toBe(4); // "é"
    expect(jsonBytes('"\\\n')).toBe(8); // "\"\\\n"
    expect(jsonBytes("\ud800")).toBe(8); // JSON.stringify escapes a lone surrogate: "\ud800"
  });
});

describe("chunkBySize", () => {
  const byBytes = (items: string[], limits: Parameters<typeof chunkBySize>[2]) => chunkBySize(items, utf8Bytes, limits);

  it.each<[string, string[], Parameters<typeof chunkBySize>[2], string[][]]>([
    ["nothing", [], { maxBytes: 8 }, []],
    ["exactly full", ["aaaa", "bbbb"], { maxBytes: 8 }, [["aaaa", "bbbb"]]],
    ["one byte over", ["aaaa", "bbbbb"], { maxBytes: 8 }, [["aaaa"], ["bbbbb"]]],
    ["2-byte chars exactly full", ["éé", "éé"], { maxBytes: 8 }, [["éé", "éé"]]],
    ["2-byte chars one over", ["éé", "ééa"], { maxBytes: 8 }, [["éé"], ["ééa"]]],
    ["3-byte chars", ["漢漢", "a"], { maxBytes: 6 }, [["漢漢"], ["a"]]],
    // 4 UTF-16 units would fit 7; 8 bytes do not.
    ["emoji", ["😀", "😀"], { maxBytes: 7 }, [["😀"], ["😀"]]],
    ["emoji exactly full", ["😀", "😀"], { maxBytes: 8 }, [["😀", "😀"]]],
    [
      "JSON array frame and commas",
      ['"é"', '"é"'],
      { maxBytes: 11, frameBytes: 2, separatorBytes: 1 },
      [['"é"', '"é"']],
    ],
    ["JSON array one over", ['"é"', '"é"'], { maxBytes: 10, frameBytes: 2, separatorBytes: 1 }, [['"é"'], ['"é"']]],
    ["count cap", ["a", "b", "c", "d", "e"], { maxBytes: 100, maxItems: 2 }, [["a", "b"], ["c", "d"], ["e"]]],
  ])("%s", (_name, items, limits, expected) => {
    expect(byBytes(items, limits)).toEqual(expected);
  });

  it("refuses an item that cannot fit even alone, naming it", () => {
    expect(() => byBytes(["a", "😀😀"], { maxBytes: 7 })).toThrow(OversizeItem);
    try {
      byBytes(["a", "😀😀"], { maxBytes: 9, frameBytes: 2 });
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ index: 1, bytes: 8, maxBytes: 7 });
    }
  });

  it("keeps order, stays within the limits and fills greedily, over mixed multi-byte items", () => {
    const items = Array.from({ length: 400 }, (_, i) => mixed(i + 1, 1 + (i % 37)));
    const limits = { maxBytes: 300, maxItems: 20, frameBytes: 2, separatorBytes: 1 };
    const chunks = byBytes(items, limits);
    expect(chunks.flat()).toEqual(items);
    const total = (c: string[]) => 2 + c.reduce((n, s) => n + utf8Bytes(s), 0) + c.length - 1;
    chunks.forEach((c, i) => {
      expect(total(c)).toBeLessThanOrEqual(300);
      expect(c.length).toBeLessThanOrEqual(20);
      const next = chunks[i + 1]?.[0];
      if (next !== undefined && c.length < 20) expect(total([...c, next])).toBeGreaterThan(300);
    });
  });
});

describe("requestChunks (D1 bound JSON)", () => {
  const row = (i: number, customId: string): RequestRow => ({
    url: `https://example.com/${i}`,
    custom_id: customId,
    browser: i % 2 === 0,
    spec: spec(),
  });
  const rowJson = (r: RequestRow) => JSON.stringify([r.url, r.custom_id, r.browser ? 1 : 0, JSON.stringify(r.spec)]);

  it("puts rows exactly at the byte limit in one chunk, and one byte more in two", () => {
    const rows = [row(1, "漢漢漢"), row(2, "😀é")];
    const exact = 2 + utf8Bytes(rowJson(rows[0])) + 1 + utf8Bytes(rowJson(rows[1]));
    expect(requestChunks(rows, exact)).toEqual([{ start: 0, json: `[${rowJson(rows[0])},${rowJson(rows[1])}]` }]);
    expect(requestChunks(rows, exact - 1).map((c) => c.start)).toEqual([0, 1]);
  });

  it("binds every row once, in order, each chunk valid JSON within the limit in bytes", () => {
    const rows = Array.from({ length: 300 }, (_, i) => row(i, mixed(i + 7, 1 + (i % 200))));
    const maxBytes = 4_000;
    const chunks = requestChunks(rows, maxBytes);
    expect(chunks.length).toBeGreaterThan(1);
    const back: unknown[][] = [];
    for (const c of chunks) {
      expect(utf8Bytes(c.json)).toBeLessThanOrEqual(maxBytes);
      expect(c.start).toBe(back.length);
      back.push(...(JSON.parse(c.json) as unknown[][]));
    }
    expect(back).toEqual(rows.map((r) => [r.url, r.custom_id, r.browser ? 1 : 0, JSON.stringify(r.spec)]));
    // The same rows chunked by UTF-16 length give chunks over the limit in bytes.
    const byLength = chunkBySize(rows.map(rowJson), (j) => j.length, { maxBytes, frameBytes: 2, separatorBytes: 1 });
    expect(Math.max(...byLength.map((c) => utf8Bytes(`[${c.join(",")}]`)))).toBeGreaterThan(maxBytes);
  });

  it("fits a row of the largest request the API accepts, even one that JSON escapes twice, in a chunk", () => {
    const url = "https://example.com/";
    const base = requestBytes({ url, custom_id: null, spec: spec([{ type: "evaluate", script: "" }]) });
    // A quote takes 2 bytes in the request's JSON and 4 in the row's, which escapes the spec again.
    const script = '"'.repeat(Math.floor((LIMITS.maxRequestBytes - base) / 2));
    const big: RequestRow = { url, custom_id: null, browser: true, spec: spec([{ type: "evaluate", script }]) };
    expect(requestBytes(big)).toBeLessThanOrEqual(LIMITS.maxRequestBytes);
    const [chunk] = requestChunks([big]);
    expect(utf8Bytes(chunk.json)).toBeLessThanOrEqual(2 * LIMITS.maxRequestBytes + 100);
    expect(utf8Bytes(chunk.json)).toBeLessThan(D1_CHUNK_BYTES / 7);
  });
});

describe("queue messages", () => {
  const overhead = jsonBytes({ kind: "job", pad: "" });
  /** A body of exactly `bytes` bytes of JSON, padded with "é" (2 bytes, 1 UTF-16 unit). */
  const bodyOf = (bytes: number) => {
    const k = bytes - overhead;
    const body = { kind: "job", pad: "é".repeat(Math.floor(k / 2)) + (k % 2 ? "a" : "") };
    expect(jsonBytes(body)).toBe(bytes);
    return { body, bytes };
  };

  it("sends at most 100 messages per call", () => {
    expect(sendBatches(Array.from({ length: 100 }, () => bodyOf(100))).map((b) => b.length)).toEqual([100]);
    expect(sendBatches(Array.from({ length: 101 }, () => bodyOf(100))).map((b) => b.length)).toEqual([100, 1]);
  });

  it("counts each message in bytes plus its envelope against 256 KB per call", () => {
    // Four messages whose bytes and envelopes add up to the limit exactly.
    const quarter = PLATFORM.queueBatchBytes / 4 - PLATFORM.queueEnvelopeBytes;
    const q = bodyOf(quarter);
    expect(q.body.pad.length).toBeLessThan(quarter / 1.9); // by UTF-16 length, about half full
    expect(sendBatches([q, q, q, q]).map((b) => b.length)).toEqual([4]);
    expect(sendBatches([q, q, q, bodyOf(quarter + 1)]).map((b) => b.length)).toEqual([3, 1]);
  });

  it("never builds a call over the limits, whatever the characters", () => {
    const msgs = Array.from({ length: 60 }, (_, i) => {
      const body = { kind: "job", pad: mixed(i + 3, 500 + ((i * 7919) % 25_000)) };
      return { body, bytes: jsonBytes(body) };
    });
    for (const m of msgs) expect(m.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BODY_BYTES);
    const batches = sendBatches(msgs);
    expect(batches.flat()).toEqual(msgs.map((m) => m.body));
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(PLATFORM.queueBatchMessages);
      expect(b.reduce((n, body) => n + jsonBytes(body) + PLATFORM.queueEnvelopeBytes, 0)).toBeLessThanOrEqual(
        PLATFORM.queueBatchBytes,
      );
    }
  });

  it("fits the message of the largest request the API accepts, with room to spare", () => {
    const url = "https://example.com/";
    const custom_id = "😀".repeat(127);
    const base = requestBytes({ url, custom_id, spec: spec([{ type: "evaluate", script: "" }]) });
    const script = "漢".repeat(Math.floor((LIMITS.maxRequestBytes - base) / 3));
    const s = spec([{ type: "evaluate", script }]);
    expect(LIMITS.maxRequestBytes - requestBytes({ url, custom_id, spec: s })).toBeLessThan(3);
    const built = buildJobMessage(
      { job_id: uuid, run_id: uuid, tenant: "t".repeat(100), url, browser: true, attempt: 1, released_ms: 0 },
      JSON.stringify(s),
    );
    expect(built.ok).toBe(true);
    if (built.ok) expect(built.bytes).toBeLessThan(MAX_MESSAGE_BODY_BYTES / 1.5);
  });

  it("refuses to build a message over the limit in bytes, though its UTF-16 length is under it", () => {
    const s = spec([{ type: "evaluate", script: "é".repeat(65_000) }]);
    const built = buildJobMessage(
      {
        job_id: uuid,
        run_id: uuid,
        tenant: "t",
        url: "https://example.com/",
        browser: true,
        attempt: 1,
        released_ms: 0,
      },
      JSON.stringify(s),
    );
    expect(JSON.stringify(s).length).toBeLessThan(MAX_MESSAGE_BODY_BYTES);
    expect(built).toMatchObject({
      ok: false,
      job_id: uuid,
      error: expect.stringMatching(/could not be queued: its message is 130\d{3} bytes/),
    });
  });

  it("refuses a job whose stored options are not JSON", () => {
    const built = buildJobMessage(
      {
        job_id: uuid,
        run_id: uuid,
        tenant: "t",
        url: "https://example.com/",
        browser: false,
        attempt: 1,
        released_ms: 0,
      },
      "{",
    );
    expect(built).toMatchObject({ ok: false, error: expect.stringMatching(/not valid JSON/) });
  });
});

describe("parseQueueMessage", () => {
  const job = {
    kind: "job",
    job_id: uuid,
    run_id: uuid,
    tenant: "t",
    url: "https://example.com/",
    browser: false,
    attempt: 1,
    released_ms: 1_764_400_000_000,
    spec: spec(),
  };

  it.each<[string, unknown, RegExp | null]>([
    ["a job", job, null],
    [
      "a dispatch (an older deploy's fan-out step)",
      { kind: "dispatch", run_id: uuid },
      /unknown message kind "dispatch"/,
    ],
    ["null", null, /not a JSON object/],
    ["a string", "job", /not a JSON object/],
    ["an array", [job], /not a JSON object/],
    ["no kind", {}, /unknown message kind \(none\)/],
    ["an unknown kind", { ...job, kind: "teleport" }, /unknown message kind "teleport"/],
    ["a job without job_id", { ...job, job_id: undefined }, /"job_id"/],
    ["a job with an empty run_id", { ...job, run_id: "" }, /"run_id"/],
    ["a job with browser as a string", { ...job, browser: "yes" }, /"browser"/],
    ["a job without spec", { ...job, spec: null }, /"spec"/],
    ["a job whose spec has no timeout", { ...job, spec: { ...spec(), timeout: undefined } }, /"timeout"/],
    ["a job whose actions are not a list", { ...job, spec: { ...spec(), actions: {} } }, /"actions"/],
    ["a job without its attempt", { ...job, attempt: undefined }, /"attempt"/],
    ["a job with attempt 0", { ...job, attempt: 0 }, /"attempt"/],
    ["a job without released_ms", { ...job, released_ms: "now" }, /"released_ms"/],
  ])("%s", (_name, body, reason) => {
    const parsed = parseQueueMessage(body);
    if (reason === null) expect(parsed).toEqual({ ok: true, message: body });
    else expect(parsed).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
  });
});
