/**
 * The export's line formats: NDJSON (one Job per line, plus the included fields) and CSV
 * (RFC 4180: CRLF line ends, a field with a comma, double quote, CR or LF quoted, quotes doubled).
 */
import type { Job } from "../schemas";

export type ExportInclude = "metadata" | "extracted" | "markdown";

/** A job as the export writes it: the listing's Job and, per `include`, the extra fields (null when absent). */
export interface ExportItem {
  job: Job;
  markdown?: string | null;
}

export const CSV_BASE_COLUMNS = [
  "job_id",
  "custom_id",
  "url",
  "status",
  "status_code",
  "final_url",
  "blocked_reason",
  "error",
  "attempts",
  "created_at",
  "started_at",
  "completed_at",
  "total_ms",
] as const;

/**
 * One RFC 4180 field. Text that a spreadsheet would run as a formula (it starts with =, +, -, @,
 * a tab or a carriage return: page-controlled titles and extracted values can) gets a leading
 * apostrophe, the usual neutraliser; numbers are written as they are.
 */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const csvLine = (fields: (string | number | null | undefined)[]) => `${fields.map(csvField).join(",")}\r\n`;

/** The CSV columns an export with `include` has, in the order csvRow writes them. */
const csvColumns = (include: readonly ExportInclude[], fieldNames: readonly string[]): string[] => [
  ...CSV_BASE_COLUMNS,
  ...(include.includes("metadata") ? ["title"] : []),
  ...(include.includes("extracted") ? fieldNames.map((n) => `extracted.${n}`) : []),
  ...(include.includes("markdown") ? ["markdown"] : []),
];

export const csvHeader = (include: readonly ExportInclude[], fieldNames: readonly string[]): string =>
  csvLine(csvColumns(include, fieldNames));

export function csvRow(item: ExportItem, include: readonly ExportInclude[], fieldNames: readonly string[]): string {
  const j = item.job;
  const extracted = j.extracted ?? {};
  const value = (v: string | string[] | null | undefined) => (Array.isArray(v) ? v.join("\n") : v);
  return csvLine([
    j.job_id,
    j.custom_id,
    j.url,
    j.status,
    j.status_code,
    j.final_url,
    j.blocked_reason,
    j.error,
    j.attempts,
    j.created_at,
    j.started_at,
    j.completed_at,
    j.timings.total_ms,
    ...(include.includes("metadata") ? [j.metadata?.title] : []),
    ...(include.includes("extracted") ? fieldNames.map((n) => value(extracted[n])) : []),
    ...(include.includes("markdown") ? [item.markdown] : []),
  ]);
}

export function ndjsonLine(item: ExportItem, include: readonly ExportInclude[]): string {
  const j = item.job;
  const out: Record<string, unknown> = { ...j };
  if (include.includes("metadata")) out.metadata = j.metadata ?? null;
  if (include.includes("extracted")) out.extracted = j.extracted ?? null;
  if (include.includes("markdown")) out.markdown = item.markdown ?? null;
  return `${JSON.stringify(out)}\n`;
}

/**
 * The last record of an export that failed after its headers went out, so a reader of the file
 * alone knows it is incomplete (the stream is also ended with an error, which a client sees as a
 * truncated transfer). NDJSON: a line `{"error": <problem details>}` and nothing else (a Job line
 * has a job_id, and its own `error` is a string or null). CSV: a record whose job_id is `#error`
 * (job ids are hexadecimal, so no job's row starts with `#`), the problem details as JSON in the
 * next field, the others empty, so it has the header's column count and parses as CSV.
 */
export function ndjsonError(problem: Record<string, unknown>): string {
  return `${JSON.stringify({ error: problem })}\n`;
}

export function csvError(problem: Record<string, unknown>, columns: number): string {
  return csvLine(["#error", JSON.stringify(problem), ...Array.from({ length: Math.max(0, columns - 2) }, () => "")]);
}

export const csvColumnCount = (include: readonly ExportInclude[], fieldNames: readonly string[]) =>
  csvColumns(include, fieldNames).length;
