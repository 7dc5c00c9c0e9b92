/**
 * Sizes in bytes, as the platform counts them. Queues and D1 limit UTF-8 bytes, while a JS
 * string's length counts UTF-16 units: "é" is 1 unit and 2 bytes, "漢" 1 and 3, "😀" 2 and 4. So
 * every size checked against a platform limit is measured here, never with `.length`.
 */
import type { JobSpec } from "./domain";

/**
 * The platform limits the chunkers build against. Decimal KB/MB (the smaller reading of the
 * documented "128 KB", and what the local queue broker enforces), so a chunk that fits here fits
 * in production too.
 */
export const PLATFORM = {
  /** One queue message, body included. */
  queueMessageBytes: 128_000,
  /** One sendBatch call. */
  queueBatchBytes: 256_000,
  queueBatchMessages: 100,
  /**
   * Reserved per message for what the platform adds to the JSON body (id, timestamp, content
   * type, delay): 1 KB, generous, so 100 small messages (≈ 400 bytes each) still go in one call.
   */
  queueEnvelopeBytes: 1_024,
  /** A string or BLOB bound to a D1 statement, or a D1 row. */
  d1ValueBytes: 2_000_000,
} as const;

/** The largest JSON body a queue message may carry once its envelope is reserved. */
export const MAX_MESSAGE_BODY_BYTES = PLATFORM.queueMessageBytes - PLATFORM.queueEnvelopeBytes;

/**
 * A bound JSON chunk of request rows: half of D1's value limit, so the bound text and the
 * json_each expansion of it stay far from the limit whatever the rows hold.
 */
export const D1_CHUNK_BYTES = PLATFORM.d1ValueBytes / 2;

const encoder = new TextEncoder();

/** UTF-8 byte length; a lone surrogate counts as the 3 bytes of U+FFFD, as TextEncoder writes it. */
export const utf8Bytes = (s: string): number => encoder.encode(s).byteLength;

/** Bytes of a value serialised as JSON (what a queue message with contentType "json" carries). */
export const jsonBytes = (v: unknown): number => utf8Bytes(JSON.stringify(v));

/**
 * A stored request as it travels: url, custom_id and the spec, serialised as JSON. The cap on this
 * (LIMITS.maxRequestBytes) is what keeps every job message far below a queue message's limit.
 */
export const requestBytes = (r: { url: string; custom_id: string | null; spec: JobSpec }): number =>
  jsonBytes([r.url, r.custom_id, r.spec]);

/** An item that cannot go into any chunk: alone it is over the limit. */
export class OversizeItem extends Error {
  constructor(
    readonly index: number,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`item ${index} takes ${bytes} bytes; a chunk holds at most ${maxBytes}`);
    this.name = "OversizeItem";
  }
}

export interface ChunkLimits {
  maxBytes: number;
  maxItems?: number;
  /** Bytes a chunk takes with no item in it (e.g. 2 for the brackets of a JSON array). */
  frameBytes?: number;
  /** Bytes between two items (e.g. 1 for a JSON array's comma). */
  separatorBytes?: number;
}

/**
 * Splits items, in order, into as few consecutive chunks as a greedy fill gives, each within
 * `maxBytes` (frame + sizes + separators) and `maxItems`. Throws OversizeItem for an item that
 * cannot fit even alone: a caller that must not fail should set such items aside first.
 */
export function chunkBySize<T>(items: readonly T[], sizeOf: (item: T) => number, limits: ChunkLimits): T[][] {
  const { maxBytes, maxItems = Infinity, frameBytes = 0, separatorBytes = 0 } = limits;
  const chunks: T[][] = [];
  let chunk: T[] = [];
  let bytes = frameBytes;
  items.forEach((item, index) => {
    const size = sizeOf(item);
    if (frameBytes + size > maxBytes) throw new OversizeItem(index, size, maxBytes - frameBytes);
    if (chunk.length && (chunk.length === maxItems || bytes + separatorBytes + size > maxBytes)) {
      chunks.push(chunk);
      chunk = [];
      bytes = frameBytes;
    }
    bytes += (chunk.length ? separatorBytes : 0) + size;
    chunk.push(item);
  });
  if (chunk.length) chunks.push(chunk);
  return chunks;
}
