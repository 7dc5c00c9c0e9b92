/**
 * GET …/runs/{run_id}/export: every finished job in submission order, as NDJSON or RFC 4180 CSV,
 * parsed back here and compared with the jobs listing; and what outlives the page (48 h).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { setNow } from "../src/clock";
import * as store from "../src/do/job-store";
import { RunCoordinator } from "../src/do/run-coordinator";
import { pagelessOutcome } from "../src/domain";
import {
  allJobs,
  api,
  createCollection,
  newTenant,
  runToCompletion,
  startRun,
  target,
  waitForRun,
  type JobView,
} from "./support/api";
import { withObjectEnv } from "./support/queue";

afterEach(() => setNow(null));

/**
 * Counts, while `fn` runs, the run objects' export page reads (each one a subrequest of the export
 * response) and R2 GETs anywhere in this isolate (the Worker, its consumers and the run objects
 * share it in the tests).
 */
async function countCalls<T>(fn: () => Promise<T>) {
  const bucketProto = Object.getPrototypeOf(env.BODIES) as { get: (...a: unknown[]) => unknown };
  const objectProto = RunCoordinator.prototype as unknown as { exportPage: (...a: unknown[]) => unknown };
  const realGet = bucketProto.get;
  const realPage = objectProto.exportPage;
  const counts = { r2Gets: 0, exportPages: 0 };
  bucketProto.get = function (this: unknown, ...a: unknown[]) {
    counts.r2Gets++;
    return realGet.apply(this, a);
  };
  objectProto.exportPage = function (this: unknown, ...a: unknown[]) {
    counts.exportPages++;
    return realPage.apply(this, a);
  };
  try {
    const result = await fn();
    return { ...counts, result };
  } finally {
    bucketProto.get = realGet;
    objectProto.exportPage = realPage;
  }
}

/** The body as far as it goes, and the error that ended it, if one did. */
async function readUntilError(res: Response): Promise<{ text: string; error: unknown }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, error: null };
      text += dec.decode(value, { stream: true });
    }
  } catch (e) {
    return { text, error: e };
  }
}

/** NDJSON is UTF-8 text; read as bytes so the runtime does not warn about a non-text type. */
const body = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer());

/** RFC 4180: records end with CRLF; a quoted field may hold commas, CR, LF and doubled quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (ch === '"') (quoted = false), i++;
      else (field += ch), i++;
    } else if (ch === '"') {
      if (field !== "") throw new Error(`a quote inside an unquoted field at ${i}`);
      quoted = true;
      i++;
    } else if (ch === ",") row.push(field), (field = ""), i++;
    else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      (row = []), (field = ""), (i += 2);
    } else if (ch === "\r" || ch === "\n") throw new Error(`a bare line break outside quotes at ${i}`);
    else (field += ch), i++;
  }
  if (quoted) throw new Error("an unterminated quoted field");
  if (field !== "" || row.length) throw new Error("the last record does not end with CRLF");
  return rows;
}

const REQUESTS = [
  {
    custom_id: 'tricky, "one"',
    url: target("/formats/tricky"),
    formats: ["metadata"],
    extract: {
      heading: { selector: "h1.t" },
      tags: { selector: "li.tag", all: true },
      pre: { selector: "pre", attribute: "html" },
    },
  },
  {
    custom_id: "doc",
    url: target("/formats/doc"),
    formats: ["html", "metadata"],
    extract: { heading: { selector: "h1" }, canonical: { selector: "link[rel=canonical]", attribute: "href" } },
  },
  { custom_id: "missing", url: target("/status/404"), formats: ["metadata"], extract: { heading: { selector: "h1" } } },
  { custom_id: "blocked", url: target("/block/cloudflare_block") },
  { custom_id: "hang", url: target("/hang"), timeout: 1_000, extract: { heading: { selector: "h1" } } },
];

describe("export", () => {
  it("streams every job of the run as NDJSON and CSV, equal to the listing, and is 404 to another tenant", async () => {
    const { key } = await newTenant();
    const { col, run, jobs } = await runToCompletion(key, REQUESTS);
    const base = `/v1/async/collections/${col.id}/runs/${run.run_id}`;
    expect(jobs.map((j) => [j.custom_id, j.status])).toEqual([
      ['tricky, "one"', "completed"],
      ["doc", "completed"],
      ["missing", "failed"],
      ["blocked", "failed"],
      ["hang", "timeout"],
    ]);
    expect(jobs[3].blocked_reason).toBe("cloudflare_block");

    const nd = await api(`${base}/export?format=ndjson&include=metadata,extracted`, { key });
    expect(nd.status).toBe(200);
    expect(nd.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(nd.headers.get("content-disposition")).toBe(`attachment; filename="run-${run.run_id}.ndjson"`);
    const text = await body(nd);
    expect(text.endsWith("\n")).toBe(true);
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as JobView & Record<string, unknown>);
    // One Job per line as the listing has it, plus the included fields (null where a job has none).
    expect(lines).toEqual(jobs.map((j) => ({ ...j, metadata: j.metadata ?? null, extracted: j.extracted ?? null })));
    expect(lines[0].metadata).toMatchObject({ title: 'Commas, "quotes" & café' });
    expect(lines[0].extracted).toEqual({
      heading: 'Line "two", end',
      tags: ["a,b", '"c"'],
      pre: '<pre class="p">x,\ny</pre>',
    });
    expect(lines[1].extracted).toEqual({ heading: "Main Heading", canonical: target("/formats/canonical") });
    // A failed page is kept, and so is what was made from it; a timeout has no page.
    expect(lines[2].extracted).toEqual({ heading: "Status 404" });
    expect(lines[4].extracted).toBeNull();

    const csvRes = await api(`${base}/export?format=csv&include=metadata,extracted`, { key });
    expect(csvRes.status).toBe(200);
    expect(csvRes.headers.get("content-type")).toBe("text/csv; charset=utf-8; header=present");
    expect(csvRes.headers.get("content-disposition")).toBe(`attachment; filename="run-${run.run_id}.csv"`);
    const rows = parseCsv(await csvRes.text());
    const columns = [
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
      "title",
      // The union of the run's extract fields, in order of first appearance.
      "extracted.heading",
      "extracted.tags",
      "extracted.pre",
      "extracted.canonical",
    ];
    expect(rows[0]).toEqual(columns);
    const s = (v: unknown) => (v === null || v === undefined ? "" : String(v));
    const expected = jobs.map((j) => [
      j.job_id,
      s(j.custom_id),
      j.url,
      j.status,
      s(j.status_code),
      s(j.final_url),
      s(j.blocked_reason),
      s(j.error),
      s(j.attempts),
      j.created_at,
      s(j.started_at),
      s(j.completed_at),
      s(j.timings.total_ms),
      s(j.metadata?.title),
      s(j.extracted?.heading),
      s((j.extracted?.tags as string[] | undefined)?.join("\n")),
      s(j.extracted?.pre),
      s(j.extracted?.canonical),
    ]);
    expect(rows.slice(1)).toEqual(expected);
    expect(rows[1][1]).toBe('tricky, "one"');
    expect(rows[1][15]).toBe('a,b\n"c"');
    expect(rows[1][16]).toBe('<pre class="p">x,\ny</pre>');

    // status_filter and no include: the base columns only.
    const failed = parseCsv(await (await api(`${base}/export?format=csv&status_filter=failed`, { key })).text());
    expect(failed[0]).toEqual(columns.slice(0, 13));
    expect(failed.slice(1).map((r) => r[1])).toEqual(["missing", "blocked"]);

    const other = await newTenant();
    const foreign = await api(`${base}/export?format=csv`, { key: other.key });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get("content-type")).toContain("application/problem+json");
    expect((await api(`${base}/export?format=xml`, { key })).status).toBe(422);
    expect((await api(`${base}/export?include=screenshots`, { key })).status).toBe(422);
  });

  it("exports the kept markdown of a run past 1,000 jobs with a few R2 reads and run-object calls", async () => {
    const { key } = await newTenant();
    // More jobs than the 1,000 subrequests one invocation may make: one read per job cannot export them.
    const n = 1_050;
    const requests = Array.from({ length: n }, (_, i) => ({
      custom_id: `p${i}`,
      url: target(`/page/${i}`),
      formats: i % 7 === 3 ? ["html"] : ["markdown"],
    }));
    const { col, run, jobs } = await runToCompletion(key, requests);
    const base = `/v1/async/collections/${col.id}/runs/${run.run_id}`;
    const text = await body(await api(`${base}/export`, { key }));
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as JobView);
    expect(lines.map((l) => l.custom_id)).toEqual(requests.map((r) => r.custom_id));
    expect(lines).toEqual(jobs);

    // Read to the end inside the count: the pages after the first are read as the body streams.
    const counted = await countCalls(async () =>
      body(await api(`${base}/export?include=markdown&status_filter=completed`, { key })),
    );
    const withMd = counted.result
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { custom_id: string; markdown: string | null });
    expect(withMd).toHaveLength(n);
    // 500 jobs a read of the run's object; R2 reads by pack (one consumer flush), not by job: at most
    // one per pack that holds Markdown, plus one per export page for a pack split between two pages.
    expect(counted.exportPages).toBe(3);
    const packs = await runInDurableObject(
      env.RUNS.get(env.RUNS.idFromName(run.run_id)),
      (_i, state) =>
        state.storage.sql
          .exec<{ n: number }>("SELECT COUNT(DISTINCT body_key) AS n FROM jobs WHERE markdown_offset IS NOT NULL")
          .one().n,
    );
    expect(packs).toBeLessThan(n / 3);
    expect(counted.r2Gets).toBeGreaterThan(0);
    expect(counted.r2Gets).toBeLessThanOrEqual(packs + counted.exportPages);
    withMd.forEach((l, i) => {
      // Markdown is kept for the jobs that asked for it, made when they ran.
      if (i % 7 === 3) expect(l.markdown).toBeNull();
      else expect(l.markdown?.startsWith(`# Page ${i}\n\nlorem ipsum`)).toBe(true);
    });
  });

  it("stops an export page at 4 MB of job text, and reads no request spec", async () => {
    const stub = env.RUNS.get(env.RUNS.idFromName(crypto.randomUUID()));
    await runInDurableObject(stub, async (instance: RunCoordinator, state: DurableObjectState) => {
      const sql = state.storage.sql;
      store.migrate(sql);
      const run = { run_id: "r", tenant: "t", collection_id: "c", job_prefix: "p".repeat(24), requests_version: 1 };
      store.insertRun(sql, { ...run, total: 10, browser_total: 0, created_ms: 0 }, 1);
      // Specs near the 64 KB request cap: an export page carries none of them.
      const spec = JSON.stringify({ timeout: 30_000, pad: "s".repeat(60_000) });
      const url = (seq: number) => `https://example.com/${seq}`;
      const requests = Array.from({ length: 10 }, (_, seq) => ({
        seq,
        url: url(seq),
        custom_id: null,
        browser: 0,
        spec,
      }));
      store.insertJobs(sql, requests, null);
      store.setCreated(sql, 10);
      // About 1 MB of kept results each: four fit in a page of 4 MB, a fifth does not.
      const result_meta = JSON.stringify({ extracted: { big: "m".repeat(1_000_000) } });
      for (let seq = 0; seq < 10; seq++) {
        store.finishJob(sql, seq, { ...pagelessOutcome(`j${seq}`, "completed", 1, "x"), result_meta }, 10 + seq);
      }
      const q = {
        tenant: "t",
        collection_id: "c",
        statuses: ["completed" as const],
        limit: 500,
        markdown: false,
      };
      const seqs: number[][] = [];
      let page = await instance.exportPage({ ...q, after_seq: -1, up_to: null });
      for (;;) {
        expect(page).not.toBeNull();
        expect(page!.rows.every((r) => !("spec" in r))).toBe(true);
        seqs.push(page!.rows.map((r) => r.seq));
        if (!page!.has_more) break;
        page = await instance.exportPage({ ...q, after_seq: page!.rows.at(-1)!.seq, up_to: page!.up_to });
      }
      expect(seqs).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
      ]);
    });
  });

  it("ends an export that fails mid-stream with an error record and a broken transfer", async () => {
    const { key } = await newTenant();
    const requests = Array.from({ length: 520 }, (_, i) => ({
      custom_id: `p${i}`,
      url: target(`/page/${i}`),
      formats: ["markdown"],
    }));
    const { col, run, jobs } = await runToCompletion(key, requests);
    const base = `/v1/async/collections/${col.id}/runs/${run.run_id}`;
    // The run object's bucket fails every read that starts at the Markdown of a job of the second page.
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    const secondPage = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql
        .exec<{ body_key: string; markdown_offset: number }>(
          "SELECT body_key, markdown_offset FROM jobs WHERE seq >= 500 AND markdown_offset IS NOT NULL",
        )
        .toArray()
        .map((r) => `${r.body_key}@${r.markdown_offset}`),
    );
    expect(secondPage).toHaveLength(20);
    const failing = new Set(secondPage);
    for (const format of ["ndjson", "csv"] as const) {
      const read = await runInDurableObject(stub, (instance: RunCoordinator) =>
        withObjectEnv(
          instance,
          (real) => ({
            BODIES: new Proxy(real.BODIES, {
              get(t, prop) {
                if (prop !== "get") return (Reflect.get(t, prop) as (...a: unknown[]) => unknown).bind(t);
                return (k: string, o?: { range?: { offset: number } }) =>
                  failing.has(`${k}@${o?.range?.offset}`) ? Promise.reject(new Error("R2 is down")) : t.get(k, o);
              },
            }),
          }),
          async () => {
            const res = await api(`${base}/export?format=${format}&include=markdown`, { key });
            expect(res.status).toBe(200);
            return readUntilError(res);
          },
        ),
      );
      // The transfer ends in error, so a client cannot take the file for complete.
      expect(read.error).not.toBeNull();
      if (format === "ndjson") {
        const lines = read.text
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(lines).toHaveLength(501);
        expect(lines.slice(0, 500).map((l) => l.job_id)).toEqual(jobs.slice(0, 500).map((j) => j.job_id));
        expect(lines[500]).toEqual({
          error: expect.objectContaining({ status: 503, detail: expect.stringMatching(/after 500 jobs.*incomplete/) }),
        });
      } else {
        const rows = parseCsv(read.text);
        expect(rows).toHaveLength(1 + 500 + 1);
        const last = rows.at(-1)!;
        expect(last).toHaveLength(rows[0].length);
        expect(last[0]).toBe("#error");
        expect(JSON.parse(last[1])).toMatchObject({ status: 503, title: "Service unavailable" });
        expect(last.slice(2).every((f) => f === "")).toBe(true);
      }
    }
  });

  it("keeps metadata and extracted after the page expired: 410 for markdown, nulls in the export", async () => {
    const { key } = await newTenant();
    const { col, run, jobs } = await runToCompletion(key, [
      {
        custom_id: "kept",
        url: target("/formats/doc"),
        formats: ["metadata"],
        extract: { heading: { selector: "h1" } },
      },
      { custom_id: "page", url: target("/formats/doc"), formats: ["markdown", "metadata"] },
    ]);
    const base = `/v1/async/collections/${col.id}/runs/${run.run_id}`;
    const result = (j: JobView, q = "") => api(`${base}/jobs/${j.job_id}/result${q}`, { key });
    expect((await result(jobs[0], "?format=markdown")).status).toBe(200);

    setNow(Date.parse(jobs[1].completed_at!) + 48 * 3600_000 + 1);
    const gone = await result(jobs[0], "?format=markdown");
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { detail: string }).detail).toMatch(/metadata and extracted stay/);
    expect((await result(jobs[1])).status).toBe(410);
    // Asked only for what is kept with the job: still served.
    const kept = await result(jobs[0]);
    expect(kept.status).toBe(200);
    expect(await kept.json()).toMatchObject({
      metadata: { title: "Formats Doc" },
      extracted: { heading: "Main Heading" },
    });
    const listed = await allJobs(key, col.id, run.run_id);
    expect(listed.map((j) => [j.result_available, j.metadata?.title, j.extracted])).toEqual([
      [false, "Formats Doc", { heading: "Main Heading" }],
      [false, "Formats Doc", undefined],
    ]);
    const md = await body(await api(`${base}/export?include=markdown,metadata`, { key }));
    const lines = md
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { markdown: unknown; metadata: { title: string } });
    expect(lines.map((l) => [l.markdown, l.metadata.title])).toEqual([
      [null, "Formats Doc"],
      [null, "Formats Doc"],
    ]);
  });

  it("holds what has finished so far while the run is in progress", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [
      { custom_id: "slow", url: target("/hang"), timeout: 4_000 },
      { custom_id: "fast", url: target("/ok") },
    ]);
    const { run_id } = await startRun(key, col.id);
    const base = `/v1/async/collections/${col.id}/runs/${run_id}`;
    const until = Date.now() + 20_000;
    while ((await allJobs(key, col.id, run_id)).find((j) => j.custom_id === "fast")?.status !== "completed") {
      if (Date.now() > until) throw new Error("the fast job did not finish");
      await new Promise((r) => setTimeout(r, 100));
    }
    const during = await body(await api(`${base}/export`, { key }));
    const first = during
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as JobView);
    expect(first.map((j) => [j.custom_id, j.status])).toEqual([["fast", "completed"]]);
    expect(((await api(`${base}`, { key }).then((r) => r.json())) as { status: string }).status).toBe("in_progress");
    await waitForRun(key, col.id, run_id);
    const after = await body(await api(`${base}/export`, { key }));
    expect(
      after
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as JobView).custom_id),
    ).toEqual(["slow", "fast"]);
  });

  it("is documented in OpenAPI with its content types, as are the raw result formats", async () => {
    type Op = { responses: Record<string, { content?: Record<string, unknown> }>; parameters?: { name: string }[] };
    const doc = (await (await api("/v1/openapi.json")).json()) as { paths: Record<string, { get: Op }> };
    const exp = doc.paths["/v1/async/collections/{id}/runs/{run_id}/export"].get;
    expect(Object.keys(exp.responses["200"].content!)).toEqual(["application/x-ndjson", "text/csv"]);
    expect(exp.parameters!.map((p) => p.name)).toEqual(expect.arrayContaining(["format", "status_filter", "include"]));
    const result = doc.paths["/v1/async/collections/{id}/runs/{run_id}/jobs/{job_id}/result"].get;
    expect(Object.keys(result.responses["200"].content!)).toEqual([
      "application/json",
      "text/html",
      "text/markdown",
      "text/plain",
    ]);
  });
});
