/**
 * The export's figures for `npm run bench`: one streamed download of a run, read as it arrives
 * (never held whole by the client), with its time, bytes and records, the workerd processes' RSS
 * sampled every 100 ms against their idle level before it, and whether it ended complete (no
 * error record, no broken transfer). The conversion cost comes from bench/extract.ts.
 *
 * Erasable-syntax TypeScript (Node 22 strips the types).
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { idleRssMb, now, rssSampler } from "./support.ts";

export interface ExportMeasure {
  query: string;
  ms: number;
  bytes: number;
  /** NDJSON lines, or CSV line breaks (a quoted field may hold more). */
  lines: number;
  idle_rss_mb: number;
  peak_rss_mb: number;
  /** Peak minus idle: what the export added to the Worker's processes while it streamed. */
  rss_delta_mb: number;
  status: number;
  /** False when the body ended with the error record or the transfer failed. */
  complete: boolean;
  error: string | null;
}

export async function measureExport(o: {
  origin: string;
  key: string;
  pid: number;
  path: string;
  query: string;
}): Promise<ExportMeasure> {
  const idle = await idleRssMb(o.pid);
  const sampler = rssSampler(o.pid);
  const t0 = now();
  let bytes = 0;
  let lines = 0;
  let tail = "";
  let error: string | null = null;
  const res = await fetch(`${o.origin}${o.path}?${o.query}`, { headers: { authorization: `Bearer ${o.key}` } });
  try {
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const b of value) if (b === 10) lines++;
      tail = (tail + dec.decode(value, { stream: true })).slice(-4096);
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const ms = now() - t0;
  const peak = sampler.stop().peakMb;
  const last = tail.trimEnd().split("\n").at(-1) ?? "";
  const marked = last.startsWith('{"error":') || last.startsWith("#error,");
  if (marked && !error) error = last.slice(0, 300);
  return {
    query: o.query,
    ms,
    bytes,
    lines,
    idle_rss_mb: idle,
    peak_rss_mb: peak,
    rss_delta_mb: peak - idle,
    status: res.status,
    complete: res.status === 200 && error === null,
    error,
  };
}

export interface ConversionCost {
  page: string;
  kb: number;
  cpu_ms: number;
  wall_ms: number;
  heap_mb: number | null;
}

/** The chosen converter's CPU per page (typical 100 KB and 1 MB pages), from bench/extract.ts --chosen-only. */
export function conversionCost(projectDir: string): ConversionCost[] {
  const out = execFileSync(process.execPath, [path.join(projectDir, "bench", "extract.ts"), "--chosen-only"], {
    cwd: projectDir,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  const line = out.split("\n").find((l) => l.startsWith("CONVERSION_JSON "));
  if (!line) throw new Error("bench/extract.ts --chosen-only printed no CONVERSION_JSON line");
  return JSON.parse(line.slice("CONVERSION_JSON ".length)) as ConversionCost[];
}
