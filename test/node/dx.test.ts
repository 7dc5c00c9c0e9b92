/**
 * The developer tools as a user meets them, against the Worker under `wrangler dev` and the local
 * target site: the docs page in a real Chromium with every non-loopback request blocked, the CLI as a
 * process (on a pipe under Node 20 where installed, in a tmux terminal), the typed client's helpers
 * during a real run, and the committed client types against the served document.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, startWorker, tempDir, type WorkerProc } from "../../bench/support";
import { createClient, type Job, type RunSummary } from "../../client/index";
import { TYPES_FILE, typesOf } from "../../scripts/client-types.mjs";
import { startTargetSite } from "../support/target-site";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "bin", "scrape-api.mjs");
const ADMIN = "dx-test-admin-token";
/** Where the test run leaves what a person may want to look at (the docs screenshot, CLI transcripts). */
const OUT = path.join(ROOT, ".wrangler", "dx-test");
const CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => fs.existsSync(p));
/** Node 20 where the machine has it (Debian's): the CLI must run on it, not only on the project's Node 22. */
const SYSTEM_NODE = ["/usr/bin/node", "/usr/local/bin/node"].find((p) => fs.existsSync(p)) ?? process.execPath;

let tmp: string;
let site: { origin: string; close: () => Promise<void> };
let worker: WorkerProc | null = null;
let stopWorker: (() => Promise<void>) | null = null;
let key: string;

beforeAll(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  tmp = tempDir();
  site = await startTargetSite();
  worker = await startWorker({
    projectDir: ROOT,
    tmp,
    vars: { LOCAL_DEV: "true", ADMIN_TOKEN: ADMIN },
    onSpawn: (stop) => {
      stopWorker = stop;
    },
  });
  const res = await fetch(`${worker.origin}/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ tenant: "dx" }),
  });
  expect(res.status).toBe(201);
  key = ((await res.json()) as { key: string }).key;
});

afterAll(async () => {
  await stopWorker?.();
  await site?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const origin = () => worker!.origin;
const client = () => createClient({ baseUrl: origin(), apiKey: key });
const urls = (n: number, p: (i: number) => string) => Array.from({ length: n }, (_, i) => `${site.origin}${p(i)}`);

/** Every job of a run through the listing, as the seed's client reads it. */
async function listing(cid: string, rid: string): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await client().listJobs(cid, rid, { limit: 500, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.has_more && page.cursor_next ? page.cursor_next : undefined;
  } while (cursor);
  return out;
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; node?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(opts.node ?? SYSTEM_NODE, [BIN, ...args], {
      cwd: tmp,
      env: { ...process.env, SCRAPE_API_URL: origin(), SCRAPE_API_KEY: key, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The part of a browser page's globals the docs test reads (the tests' types have no DOM). */
type Page = { document: { body: { innerText: string } } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the client's types", () => {
  it("are those of the document the Worker serves (else: npm run client:types)", async () => {
    const served = await (await fetch(`${origin()}/v1/openapi.json`)).json();
    const fresh = await typesOf(served);
    const committed = fs.readFileSync(TYPES_FILE, "utf8");
    if (fresh !== committed) {
      const a = fresh.split("\n");
      const b = committed.split("\n");
      const at = a.findIndex((l, i) => l !== b[i]);
      throw new Error(
        `client/schema.d.ts differs from the types of the served OpenAPI document (first at line ${at + 1}: ` +
          `served ${JSON.stringify(a[at])}, committed ${JSON.stringify(b[at])}). Run \`npm run client:types\`.`,
      );
    }
  });
});

describe("the typed client", () => {
  it("runs the seed workflow: create, start, waitForRun with progress, iterateJobs during the run, getResult", async () => {
    const c = client();
    const requests = [
      ...urls(150, (i) => `/slow?ms=150&i=${i}`).map((url, i) => ({ url, custom_id: `s${i}` })),
      { url: `${site.origin}/status/404`, custom_id: "missing" },
      { url: `${site.origin}/formats/doc`, custom_id: "doc", formats: ["markdown" as const, "metadata" as const] },
    ];
    // One host: 25 in flight to it rather than the default 6 keeps the run to about six consumer batches,
    // each one queue batch timeout long, so it still lasts several of the client's 200 ms polls.
    const col = await c.createCollection(
      { name: "client", requests, politeness: { per_host_concurrency: 25 } },
      { idempotencyKey: crypto.randomUUID() },
    );
    expect(col.total_requests).toBe(152);
    const run = await c.startRun(col.id);
    const progress: RunSummary[] = [];
    const seen: Job[] = [];
    let seenWhileRunning = 0;
    const waiting = c.waitForRun(col.id, run.run_id, { intervalMs: 200, onProgress: (r) => progress.push(r) });
    let runState = "in_progress";
    for await (const job of c.iterateJobs(col.id, run.run_id, {
      pollMs: 200,
      limit: 7,
      onRun: (r) => {
        runState = r.status;
      },
    })) {
      seen.push(job);
      if (runState === "in_progress") seenWhileRunning++;
    }
    const ended = await waiting;
    expect(ended.status).toBe("completed");
    expect(ended.success_requests + ended.failed_requests + ended.timeout_requests).toBe(152);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual(ended);
    // Streamed while the run was going, none missed or repeated, in completion order.
    console.log(
      `typed client: ${seenWhileRunning} of 152 jobs streamed during the run, ${progress.length} progress reads`,
    );
    expect(seenWhileRunning).toBeGreaterThan(0);
    const ids = seen.map((j) => j.job_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual((await listing(col.id, run.run_id)).map((j) => j.job_id).sort());
    const times = seen.map((j) => Date.parse(j.completed_at!));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const doc = seen.find((j) => j.custom_id === "doc")!;
    const md = await c.getResult(col.id, run.run_id, doc.job_id, "markdown");
    expect(md).toContain("# Main Heading");
    const json = await c.getResult(col.id, run.run_id, doc.job_id);
    expect(json.markdown).toContain("# Main Heading");
    expect(json.metadata?.title).toBe("Formats Doc");
    const missing = seen.find((j) => j.custom_id === "missing")!;
    expect(missing).toMatchObject({ status: "failed", status_code: 404 });
  });

  it("throws the API's problem with its detail", async () => {
    await expect(client().getRun(crypto.randomUUID(), crypto.randomUUID())).rejects.toMatchObject({
      name: "ApiProblem",
      status: 404,
      message: expect.stringMatching(/./),
    });
  });
});

describe("the scrape-api CLI", () => {
  it(`runs 1,000 URLs end to end on a pipe (Node ${execFileSync(SYSTEM_NODE, ["--version"]).toString().trim()})`, async () => {
    const file = path.join(tmp, "urls.txt");
    fs.writeFileSync(file, `# a comment line\n${urls(1000, (i) => `/ok?n=${i}`).join("\n")}\n\n`);
    const out = path.join(tmp, "results.ndjson");
    // All on one host: --per-host 50 (the API's most) so the test measures the CLI, not the default
    // politeness of 6 requests in flight per host.
    const r = await cli(["run", file, "--format", "markdown", "--out", out, "--poll", "300", "--per-host", "50"]);
    fs.writeFileSync(
      path.join(OUT, "cli-pipe-transcript.txt"),
      `$ scrape-api run urls.txt --format markdown --out results.ndjson --per-host 50\n${r.stderr}${r.stdout}`,
    );
    expect(r.code, r.stderr).toBe(0);
    // Not a terminal: plain lines, no bar redrawn in place.
    expect(r.stderr).not.toMatch(/\r|\x1b\[/);
    expect(r.stderr).toMatch(/^progress \d+\/1000 \(\d+%\) success=\d+ failed=\d+ timeout=\d+ rate=\S+ eta=\S+$/m);
    expect(r.stderr).toMatch(/^progress 1000\/1000 \(100%\) success=1000 failed=0 timeout=0 /m);
    expect(r.stdout).toMatch(
      /^run \S+ completed: 1000\/1000 done \(1000 success, 0 failed, 0 timeout\); 1000 results in /m,
    );
    const [, cid, rid] = r.stderr.match(/collection (\S+) .*\nrun (\S+) started/)!;
    const lines = fs
      .readFileSync(out, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1000);
    const jobs = await listing(cid, rid);
    expect(lines.map((l) => l.job_id).sort()).toEqual(jobs.map((j) => j.job_id).sort());
    for (const l of lines) {
      expect(l.status).toBe("completed");
      expect(l.markdown).toContain("Hello from the target site");
    }
  });

  it("reads a JSON list of requests from stdin, prints JSON with --json and fails with --fail-on-error", async () => {
    const list = JSON.stringify([`${site.origin}/ok`, { url: `${site.origin}/status/500`, custom_id: "bad" }]);
    const r = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(SYSTEM_NODE, [BIN, "run", "-", "--json", "--fail-on-error", "--poll", "200"], {
        env: { ...process.env, SCRAPE_API_URL: origin(), SCRAPE_API_KEY: key },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(list);
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe("");
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ status: "completed", total_requests: 2, success_requests: 1, failed_requests: 1 });

    const cid = summary.collection_id;
    const rid = summary.run_id;
    const status = await cli(["status", cid, rid, "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ run_id: rid, status: "completed" });
    const jobs = await cli(["jobs", cid, rid, "--json", "--status", "failed"]);
    const failed = jobs.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(failed).toEqual([expect.objectContaining({ custom_id: "bad", status_code: 500 })]);
    const html = await cli(["result", cid, rid, failed[0].job_id, "--format", "html"]);
    expect(html.stdout).toContain("Status 500");
    const csv = await cli(["export", cid, rid, "--format", "csv"]);
    expect(csv.stdout.split("\r\n")[0]).toMatch(/^job_id,custom_id,url,status,/);
    const cancel = await cli(["cancel", cid, rid]);
    expect(cancel.stdout).toMatch(/completed: 2\/2 done/);
  });

  it("sets the collection's per-host politeness with --per-host and --per-host-delay", async () => {
    const file = path.join(tmp, "one-site.txt");
    fs.writeFileSync(file, urls(3, (i) => `/ok?polite=${i}`).join("\n"));
    const r = await cli(["run", file, "--per-host", "3", "--per-host-delay", "250", "--json", "--poll", "200"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ status: "completed", success_requests: 3 });
    const { data } = await client().api.GET("/v1/async/collections/{id}", {
      params: { path: { id: summary.collection_id } },
    });
    expect(data?.politeness).toEqual({ per_host_concurrency: 3, per_host_delay_ms: 250 });
    // One flag alone: the other field keeps the API's default.
    const only = await cli(["run", file, "--per-host", "50", "--json", "--poll", "200"]);
    expect(only.code, only.stderr).toBe(0);
    const col = await client().api.GET("/v1/async/collections/{id}", {
      params: { path: { id: JSON.parse(only.stdout).collection_id } },
    });
    expect(col.data?.politeness).toEqual({ per_host_concurrency: 50, per_host_delay_ms: 0 });
  });

  it("refuses a bad --per-host or --per-host-delay with a usage error, creating nothing", async () => {
    const file = path.join(tmp, "one-url.txt");
    fs.writeFileSync(file, `${site.origin}/ok\n`);
    const total = async () => (await client().api.GET("/v1/async/collections", {})).data!.total;
    const before = await total();
    const perHost = (v: string) => `--per-host must be a whole number from 1–50, not "${v}".`;
    const delay = (v: string) => `--per-host-delay must be a whole number from 0–60000, not "${v}".`;
    const cases: [string[], string][] = [
      [["--per-host", "0"], perHost("0")],
      [["--per-host", "51"], perHost("51")],
      [["--per-host", "2.5"], perHost("2.5")],
      [["--per-host", "six"], perHost("six")],
      [["--per-host=-1"], perHost("-1")],
      [["--per-host", "6", "--per-host-delay", "60001"], delay("60001")],
      [["--per-host-delay", "1e3"], delay("1e3")],
    ];
    for (const [flags, message] of cases) {
      const r = await cli(["run", file, ...flags]);
      expect(r.code, `${flags.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toBe(`scrape-api: ${message}\n`);
      expect(r.stdout).toBe("");
    }
    expect(await total()).toBe(before);
    const help = await cli(["--help"]);
    expect(help.stdout).toMatch(/^ {6}--per-host <n> +requests in flight to one host at once, 1–50 \(default 6\)$/m);
    expect(help.stdout).toMatch(/^ {6}--per-host-delay <ms> +.+, 0–60000$/m);
  });

  it("says what is wrong: no key, no server, the problem's detail", async () => {
    const noKey = await cli(["status", "a", "b"], { env: { SCRAPE_API_KEY: undefined } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/No API key: set SCRAPE_API_KEY/);
    const [closed] = await freePorts(1);
    const noServer = await cli(["status", "a", "b"], { env: { SCRAPE_API_URL: `http://127.0.0.1:${closed}` } });
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toContain(`Cannot reach the API at http://127.0.0.1:${closed} (connection refused)`);
    const badKey = await cli(["status", crypto.randomUUID(), crypto.randomUUID()], {
      env: { SCRAPE_API_KEY: "sk_nope" },
    });
    expect(badKey.stderr).toMatch(/^scrape-api: 401 .*Check SCRAPE_API_KEY/m);
    const file = path.join(tmp, "bad.txt");
    fs.writeFileSync(file, "ftp://example.com/file\n");
    const invalid = await cli(["run", file]);
    expect(invalid.code).toBe(1);
    // The problem's own detail and the field it names, as the API wrote them.
    expect(invalid.stderr).toMatch(/^scrape-api: 422 Validation failed: Invalid request body: requests\[0\]\.url: .+/m);
    expect(invalid.stderr).toMatch(/^ {2}requests\[0\]\.url: /m);
  });

  it("draws a progress bar in a terminal, and Ctrl-C asks whether to cancel the run", async () => {
    execFileSync("tmux", ["-V"]);
    const session = `dx-${process.pid}`;
    const file = path.join(tmp, "slow.txt");
    fs.writeFileSync(file, urls(300, (i) => `/slow?ms=1500&i=${i}`).join("\n"));
    const env = `SCRAPE_API_URL=${origin()} SCRAPE_API_KEY=${key}`;
    const command = `cd ${tmp} && ${env} ${process.execPath} ${BIN} run ${file} --out tty.ndjson; echo "EXIT=$?"; sleep 60`;
    execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "160", "-y", "12", command]);
    const capture = () => execFileSync("tmux", ["capture-pane", "-p", "-t", session]).toString();
    const until = async (re: RegExp, ms: number) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const screen = capture();
        if (re.test(screen)) return screen;
        if (Date.now() > deadline) throw new Error(`no ${re} on the terminal within ${ms} ms:\n${screen}`);
        await sleep(200);
      }
    };
    try {
      const bar = await until(
        /\[[█░]{20,}\] [1-9]\d*\/300 +\d+% {2}✓ \d+ {2}✗ \d+ {2}⏱ \d+ {2}[\d.]+ jobs\/s {2}ETA \d+:\d\d/,
        120_000,
      );
      fs.writeFileSync(path.join(OUT, "cli-tty-progress.txt"), bar);
      execFileSync("tmux", ["send-keys", "-t", session, "C-c"]);
      await until(/Cancel run \S+\? \[y\/N\]/, 10_000);
      execFileSync("tmux", ["send-keys", "-t", session, "y", "Enter"]);
      const end = await until(/EXIT=\d+/, 30_000);
      fs.writeFileSync(path.join(OUT, "cli-tty-transcript.txt"), end);
      expect(end).toMatch(/EXIT=130/);
      const [, rid] = end.match(/run (\S+) cancelled: 300\/300 done/)!;
      const [, cid] = end.match(/collection (\S+) \(300 requests\)/)!;
      expect((await client().getRun(cid, rid)).status).toBe("cancelled");
    } finally {
      execFileSync("tmux", ["kill-session", "-t", session]);
    }
  });
});

describe("GET /v1/docs", () => {
  let browser: Browser | null = null;
  afterAll(async () => browser?.close());

  it("lists every operation in a Chromium that can reach only this machine, and tries one with a key", async () => {
    expect(CHROMIUM, "chromium is installed (scripts/local-browser.mjs, .ci/run)").toBeTruthy();
    const doc = (await (await fetch(`${origin()}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { summary: string; operationId: string }>>;
    };
    const summaries = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.summary));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--headless=new"],
    });
    const page = await browser.newPage();
    // A 4 MB script on a machine other tests load: generous waits, the assertions are about content.
    page.setDefaultTimeout(180_000);
    await page.setViewport({ width: 1400, height: 1000 });
    const blocked: string[] = [];
    const apiCalls: string[] = [];
    await page.setRequestInterception(true);
    page.on("request", (req) => {
      if (req.url().includes("/v1/async/"))
        apiCalls.push(`${req.method()} ${req.url()} ${req.headers().authorization}`);
      const u = new URL(req.url());
      const local = u.protocol === "data:" || u.protocol === "blob:" || ["127.0.0.1", "localhost"].includes(u.hostname);
      if (local) return req.continue();
      blocked.push(req.url());
      return req.abort("blockedbyclient");
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${origin()}/v1/docs`, { waitUntil: "load", timeout: 180_000 });
    // innerText, not textContent: the text the page shows, not what its scripts and hidden nodes hold.
    await page.waitForFunction(
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is asserted
      (want: string[]) => want.every((s) => (globalThis as unknown as Page).document.body.innerText.includes(s)),
      { timeout: 60_000, polling: 250 },
      summaries,
    );
    const shot = path.join(OUT, "docs.png");
    await page.screenshot({ path: shot });
    console.log(`docs page screenshot: ${shot}`);
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is asserted
    const text = await page.evaluate(() => (globalThis as unknown as Page).document.body.innerText);
    for (const s of summaries) expect(text).toContain(s);
    // "Try it" calls the document's server, the origin the page came from.
    expect(text).toContain(origin());
    expect(errors).toEqual([]);

    // Try it: the key entered once on the page, then listCollections sent from the reference's client.
    await page.type('input[placeholder="Token"]', key);
    // The reference renders operations as they come into view: go to listCollections from the sidebar.
    // (Its entry's text is split over several nodes, so it is found by its rendered text in the page.)
    const found = await page.evaluate(() => {
      type Shown = { innerText: string; click(): void };
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<Shown> } }).document;
      const all = [...doc.querySelectorAll("a, button, li, span, div")];
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is matched
      const hits = all.filter((e) => e.innerText?.trim() === "List collections, newest first");
      hits.at(-1)?.click();
      return hits.length;
    });
    expect(found).toBeGreaterThan(0);
    const tryIt = await page.waitForSelector(
      'xpath///button[contains(., "Test Request") and contains(., "(get /v1/async/collections)")]',
    );
    await tryIt!.click();
    const send = await page.waitForSelector('xpath///button[starts-with(normalize-space(.), "Send")]');
    await send!.click();
    await page.waitForFunction(
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is asserted
      () => /200 OK/.test((globalThis as unknown as Page).document.body.innerText),
      { polling: 250 },
    );
    await page.screenshot({ path: path.join(OUT, "docs-try-it.png") });
    expect(apiCalls).toEqual([`GET ${origin()}/v1/async/collections?limit=100 Bearer ${key}`]);
    // Nothing was even attempted beyond this machine: no CDN script, font or telemetry.
    expect(blocked).toEqual([]);
  });
});
