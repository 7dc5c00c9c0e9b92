import { describe, expect, it } from "vitest";
import {
  csvColumnCount,
  csvError,
  csvField,
  csvHeader,
  csvLine,
  csvRow,
  ndjsonError,
  ndjsonLine,
} from "../../src/http/export-format";
import type { Job } from "../../src/schemas";

describe("csvField (RFC 4180)", () => {
  it.each([
    ["plain", "plain"],
    ["", ""],
    [null, ""],
    [undefined, ""],
    [404, "404"],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["line\nbreak", '"line\nbreak"'],
    ["cr\rhere", '"cr\rhere"'],
    ["crlf\r\n", '"crlf\r\n"'],
    ['"', '""""'],
    ["café 漢 😀", "café 漢 😀"],
    [" spaces kept ", " spaces kept "],
    // Page-controlled text a spreadsheet would run as a formula is neutralised; numbers are not.
    ['=HYPERLINK("http://x")', '"\'=HYPERLINK(""http://x"")"'],
    ["+1", "'+1"],
    ["-2+3", "'-2+3"],
    ["@SUM(A1)", "'@SUM(A1)"],
    ["\tcmd", "'\tcmd"],
    [-5, "-5"],
  ])("%j → %j", (value, written) => {
    expect(csvField(value)).toBe(written);
  });

  it("ends each record with CRLF", () => {
    expect(csvLine(["a", null, "b,c"])).toBe('a,,"b,c"\r\n');
  });
});

const job: Job = {
  job_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
  run_id: "1f8fad5b-d9cb-469f-a165-70867728950e",
  collection_id: "2f8fad5b-d9cb-469f-a165-70867728950e",
  custom_id: null,
  url: "https://example.com/",
  browser: false,
  status: "completed",
  status_code: 200,
  final_url: "https://example.com/",
  blocked_reason: null,
  error: null,
  attempts: 1,
  created_at: "2026-11-28T12:00:00.000Z",
  started_at: "2026-11-28T12:00:00.100Z",
  completed_at: "2026-11-28T12:00:00.300Z",
  timings: { queue_wait_ms: 1, fetch_ms: 100, total_ms: 200 },
  result_available: true,
  screenshot_available: false,
  metadata: {
    title: "T, t",
    description: null,
    language: null,
    canonical_url: null,
    favicon: null,
    og: { title: null, description: null, image: null, type: null, site_name: null },
  },
  extracted: { one: "x", many: ["a", "b"], none: null },
};

const BASE = [
  "job_id,custom_id,url,status,status_code,final_url,blocked_reason,error,attempts,",
  "created_at,started_at,completed_at",
].join("");

describe("export lines", () => {
  it.each([
    [[], "…,total_ms"],
    [["metadata"], "…,total_ms,title"],
    [["extracted"], "…,total_ms,extracted.one,extracted.many,extracted.none,extracted.absent"],
    [
      ["markdown", "extracted", "metadata"],
      "…,total_ms,title,extracted.one,extracted.many,extracted.none,extracted.absent,markdown",
    ],
  ] as const)("header with include=%j", (include, header) => {
    const names = ["one", "many", "none", "absent"];
    const written = csvHeader(include, names);
    expect(written.endsWith("\r\n")).toBe(true);
    const expected = header.replace("…", BASE);
    expect(written.trimEnd()).toBe(expected);
  });

  it("writes a row's cells in the header's order, lists joined by a newline, absent values empty", () => {
    const row = csvRow(
      { job, markdown: "# T" },
      ["metadata", "extracted", "markdown"],
      ["one", "many", "none", "absent"],
    );
    expect(row).toBe(
      `${job.job_id},,https://example.com/,completed,200,https://example.com/,,,1,2026-11-28T12:00:00.000Z,` +
        `2026-11-28T12:00:00.100Z,2026-11-28T12:00:00.300Z,200,"T, t",x,"a\nb",,,# T\r\n`,
    );
  });

  it("writes NDJSON as the Job plus each included field, null when absent", () => {
    const bare = { ...job, metadata: undefined, extracted: undefined };
    expect(JSON.parse(ndjsonLine({ job: bare }, ["metadata", "extracted", "markdown"]))).toMatchObject({
      metadata: null,
      extracted: null,
      markdown: null,
    });
    const line = ndjsonLine({ job }, []);
    expect(line.endsWith("\n") && !line.slice(0, -1).includes("\n")).toBe(true);
    expect(JSON.parse(line)).toEqual(job);
  });
});

describe("the error record of an export that failed mid-stream", () => {
  const problem = {
    type: "https://scrape-api.dev/problems/unavailable",
    title: "Service unavailable",
    status: 503,
    detail: 'a, "b"\nc',
  };

  it("NDJSON: one line holding only the problem under error", () => {
    const line = ndjsonError(problem);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({ error: problem });
  });

  it.each<[string, ("metadata" | "extracted" | "markdown")[], string[], number]>([
    ["base columns", [], [], 13],
    ["with title", ["metadata"], [], 14],
    ["with extract fields and markdown", ["extracted", "markdown"], ["a", "b", "c"], 17],
    ["extract names without include=extracted", [], ["a", "b"], 13],
  ])("CSV (%s): the header's column count, #error, the problem as JSON, the rest empty", (_w, include, names, n) => {
    expect(csvColumnCount(include, names)).toBe(n);
    const header = csvHeader(include, names);
    const record = csvError(problem, csvColumnCount(include, names));
    expect(record.endsWith("\r\n")).toBe(true);
    const fields = parseRecord(record);
    expect(fields).toHaveLength(parseRecord(header).length);
    expect(fields[0]).toBe("#error");
    expect(JSON.parse(fields[1])).toEqual(problem);
    expect(fields.slice(2).every((f) => f === "")).toBe(true);
  });
});

/** One RFC 4180 record ending in CRLF, split into its fields. */
function parseRecord(record: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const body = record.slice(0, -2);
  while (i <= body.length) {
    if (body[i] === '"') {
      let f = "";
      i++;
      for (;;) {
        if (body[i] === '"' && body[i + 1] === '"') (f += '"'), (i += 2);
        else if (body[i] === '"') break;
        else f += body[i++];
      }
      fields.push(f);
      i += 2;
    } else {
      const end = body.indexOf(",", i);
      fields.push(body.slice(i, end < 0 ? body.length : end));
      i = end < 0 ? body.length + 1 : end + 1;
    }
  }
  return fields;
}
