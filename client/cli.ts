/**
 * `scrape-api`: the command-line client. Built for Node 20 and later by scripts/build-client.mjs
 * (bin/scrape-api.mjs runs the build); talks to the API only through the typed client of index.ts.
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import {
  ApiProblem,
  createClient,
  type Job,
  type PolitenessInput,
  type RunSummary,
  type ScrapeClient,
  type ScrapeRequest,
} from "./index";
import { ProgressMeter, renderBar, renderLine } from "./progress";

const DEFAULT_URL = "http://127.0.0.1:8787";
const FORMATS = ["html", "markdown", "text", "links", "metadata"] as const;
/** Result reads in flight at once while writing --out. */
const RESULT_READS = 8;

/** The collection's politeness fields' ranges, as the Politeness schema in src/schemas.ts gives them. */
const PER_HOST = { flag: "--per-host", min: 1, max: 50 };
const PER_HOST_DELAY = { flag: "--per-host-delay", min: 0, max: 60_000 };
const range = (r: { min: number; max: number }) => `${r.min}–${r.max}`;

const USAGE = `Usage: scrape-api <command> [options]

Commands:
  run <file|->                    Create a collection from URLs (one per line) or a JSON list of
                                  requests, run it, show its progress and write each result as it finishes
      --browser                   render every request in a browser
      --screenshot                take a screenshot of every page (implies --browser)
      --format <f[,f…]>           result formats: ${FORMATS.join(", ")} (default html)
      --out <file>                write each finished job with its result formats as NDJSON
      --webhook <url>             POST run.completed to this URL
      --name <name>               the collection's name (default: the file's name)
      --per-host <n>              requests in flight to one host at once, ${range(PER_HOST)} (default 6)
      --per-host-delay <ms>       least time from a request's end to the next start, ${range(PER_HOST_DELAY)}
                                  (default 0; above 0, one request at a time per host)
      --fail-on-error             exit 1 when any job failed or timed out
      --poll <ms>                 how often to read the run (default 500 on a terminal, else 1000)
  status <collection_id> <run_id> A run's counters
  jobs <collection_id> <run_id>   A run's jobs  [--status completed,failed,…] [--limit N]
  result <collection_id> <run_id> <job_id>   A job's result  [--format json|html|markdown|text]
  export <collection_id> <run_id> Download the run  [--format ndjson|csv] [--include metadata,…] [--out file]
  cancel <collection_id> <run_id> Cancel a run

Options for every command:
  --json                          machine-readable output on stdout, no progress display
  --url <url>                     the API (env SCRAPE_API_URL; default ${DEFAULT_URL})
  --key <key>                     an API key (env SCRAPE_API_KEY; \`dev-key\` under npm start)
  -h, --help
`;

class UsageError extends Error {}

const OPTIONS = {
  browser: { type: "boolean" },
  screenshot: { type: "boolean" },
  format: { type: "string" },
  out: { type: "string" },
  webhook: { type: "string" },
  name: { type: "string" },
  "per-host": { type: "string" },
  "per-host-delay": { type: "string" },
  "fail-on-error": { type: "boolean" },
  json: { type: "boolean" },
  url: { type: "string" },
  key: { type: "string" },
  status: { type: "string" },
  limit: { type: "string" },
  include: { type: "string" },
  poll: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Flags = ReturnType<typeof parse>["values"];
const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: Io = process): Promise<number> {
  let flags: Flags;
  let args: string[];
  try {
    const parsed = parse(argv);
    flags = parsed.values;
    args = parsed.positionals;
  } catch (e) {
    io.stderr.write(`scrape-api: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = args;
  if (flags.help || !command) {
    (flags.help ? io.stdout : io.stderr).write(USAGE);
    return flags.help ? 0 : 2;
  }
  const baseUrl = flags.url ?? io.env.SCRAPE_API_URL ?? DEFAULT_URL;
  const apiKey = flags.key ?? io.env.SCRAPE_API_KEY;
  try {
    if (!apiKey) {
      throw new UsageError(
        "No API key: set SCRAPE_API_KEY (or pass --key). Under `npm start` the key is dev-key; " +
          "otherwise an admin creates one with POST /v1/admin/keys.",
      );
    }
    const client = createClient({ baseUrl, apiKey });
    const out = new Output(io, flags.json === true);
    switch (command) {
      case "run":
        return await runCommand(client, out, io, need(rest, 1, "run <file|->")[0], flags, baseUrl);
      case "status": {
        const [cid, rid] = need(rest, 2, "status <collection_id> <run_id>");
        const r = await client.getRun(cid, rid);
        out.result(r, () => `${summaryLine(r)}\n`);
        return 0;
      }
      case "cancel": {
        const [cid, rid] = need(rest, 2, "cancel <collection_id> <run_id>");
        const r = await client.cancelRun(cid, rid);
        out.result(r, () => `${summaryLine(r)}\n`);
        return 0;
      }
      case "jobs":
        return await jobsCommand(client, out, need(rest, 2, "jobs <collection_id> <run_id>"), flags);
      case "result": {
        const [cid, rid, jid] = need(rest, 3, "result <collection_id> <run_id> <job_id>");
        const format = oneOf(flags.format ?? "json", ["json", "html", "markdown", "text"]);
        if (format === "json") {
          const r = await client.getResult(cid, rid, jid, "json");
          io.stdout.write(`${JSON.stringify(r, null, flags.json ? 0 : 2)}\n`);
        } else io.stdout.write(await client.getResult(cid, rid, jid, format));
        return 0;
      }
      case "export": {
        const [cid, rid] = need(rest, 2, "export <collection_id> <run_id>");
        const format = oneOf(flags.format ?? "ndjson", ["ndjson", "csv"]);
        const stream = await client.exportRun(cid, rid, {
          format,
          ...(flags.include ? { include: flags.include } : {}),
          ...(flags.status ? { status_filter: flags.status } : {}),
        });
        const sink = flags.out ? fs.createWriteStream(flags.out) : io.stdout;
        await pipeline(Readable.fromWeb(stream as import("node:stream/web").ReadableStream), sink, {
          end: !!flags.out,
        });
        if (flags.out) out.info(`wrote ${flags.out}\n`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown command "${command}".\n\n${USAGE}`);
    }
  } catch (e) {
    io.stderr.write(`scrape-api: ${explain(e, baseUrl)}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

/** ", N duplicates skipped" when the collection had any. */
const skipped = (n: number | undefined) => (n ? `, ${n} duplicates skipped` : "");

function need(rest: string[], n: number, usage: string): string[] {
  if (rest.length < n) throw new UsageError(`Usage: scrape-api ${usage}`);
  return rest;
}

/** A whole number in the flag's range, or a usage error naming the flag and its range. */
function intFlag(value: string, r: { flag: string; min: number; max: number }): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!(n >= r.min && n <= r.max)) {
    throw new UsageError(`${r.flag} must be a whole number from ${range(r)}, not "${value}".`);
  }
  return n;
}

/** The collection's politeness from --per-host and --per-host-delay; fields left out take the API's defaults. */
export function politenessOf(flags: Pick<Flags, "per-host" | "per-host-delay">): PolitenessInput | undefined {
  const p: PolitenessInput = {};
  if (flags["per-host"] !== undefined) p.per_host_concurrency = intFlag(flags["per-host"], PER_HOST);
  if (flags["per-host-delay"] !== undefined) p.per_host_delay_ms = intFlag(flags["per-host-delay"], PER_HOST_DELAY);
  return Object.keys(p).length ? p : undefined;
}

function oneOf<const V extends readonly string[]>(v: string, values: V): V[number] {
  if (!values.includes(v)) throw new UsageError(`"${v}" is not one of ${values.join(", ")}.`);
  return v as V[number];
}

/** A sentence for what went wrong: the problem's detail, or why the server could not be reached. */
export function explain(e: unknown, baseUrl: string): string {
  if (e instanceof ApiProblem) {
    const fields = (e.problem.errors ?? []).map((f) => `\n  ${f.path || "(body)"}: ${f.message}`).join("");
    const auth = e.status === 401 ? " Check SCRAPE_API_KEY (or --key)." : "";
    return `${e.status} ${e.problem.title}: ${e.problem.detail}${auth}${fields}`;
  }
  if (e instanceof UsageError) return e.message;
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (e instanceof TypeError && (cause?.code || /fetch failed/i.test(e.message))) {
    const why = cause?.code === "ECONNREFUSED" ? "connection refused" : (cause?.code ?? cause?.message ?? e.message);
    return (
      `Cannot reach the API at ${baseUrl} (${why}). Is the server running (\`npm start\`)? ` +
      "Set SCRAPE_API_URL (or --url) to its address."
    );
  }
  return e instanceof Error ? e.message : String(e);
}

/** stdout for results (JSON with --json), stderr for everything a person reads. */
class Output {
  constructor(
    readonly io: Io,
    readonly json: boolean,
  ) {}
  result(value: unknown, human: () => string) {
    this.io.stdout.write(this.json ? `${JSON.stringify(value)}\n` : human());
  }
  info(s: string) {
    if (!this.json) this.io.stderr.write(s);
  }
}

const summaryLine = (r: RunSummary) =>
  `run ${r.run_id} ${r.status}: ${r.success_requests + r.failed_requests + r.timeout_requests}/${r.total_requests} ` +
  `done (${r.success_requests} success, ${r.failed_requests} failed, ${r.timeout_requests} timeout)`;

async function jobsCommand(client: ScrapeClient, out: Output, [cid, rid]: string[], flags: Flags) {
  const limit = flags.limit ? Number(flags.limit) : Number.POSITIVE_INFINITY;
  if (!(limit > 0)) throw new UsageError("--limit must be a positive number.");
  let cursor: string | undefined;
  let shown = 0;
  do {
    const page = await client.listJobs(cid, rid, {
      limit: Math.min(500, limit - shown),
      ...(flags.status ? { status_filter: flags.status } : {}),
      ...(cursor ? { cursor } : {}),
    });
    for (const j of page.items) {
      out.result(
        j,
        () => `${j.job_id}  ${j.status.padEnd(11)} ${String(j.status_code ?? "-").padStart(3)}  ${j.url}\n`,
      );
      shown++;
    }
    cursor = page.has_more && page.cursor_next && shown < limit ? page.cursor_next : undefined;
  } while (cursor);
  return 0;
}

/** URLs one per line (blank lines and # comments skipped), or a JSON list of URLs and request objects. */
export function readRequests(text: string, flags: Pick<Flags, "browser" | "screenshot" | "format">): ScrapeRequest[] {
  const trimmed = text.trim();
  let items: unknown[];
  if (trimmed.startsWith("[")) {
    try {
      items = JSON.parse(trimmed);
    } catch (e) {
      throw new UsageError(`The input looks like JSON but does not parse: ${(e as Error).message}`);
    }
  } else {
    items = trimmed
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
  }
  if (items.length === 0) throw new UsageError("The input has no URLs.");
  const formats = flags.format ? flags.format.split(",").map((f) => oneOf(f.trim(), FORMATS)) : undefined;
  const browser = flags.browser || flags.screenshot;
  return items.map((item, i) => {
    const base: Record<string, unknown> =
      typeof item === "string"
        ? { url: item }
        : typeof item === "object" && item !== null && !Array.isArray(item)
          ? { ...(item as object) }
          : (() => {
              throw new UsageError(`Item ${i} of the JSON list is neither a URL nor a request object.`);
            })();
    if (browser && base.browser === undefined) base.browser = true;
    if (flags.screenshot && base.screenshot === undefined) base.screenshot = true;
    if (formats && base.formats === undefined) base.formats = formats;
    return base as ScrapeRequest;
  });
}

/** POSTs are retried under their Idempotency-Key when the answer says nothing about their effect. */
async function withRetries<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (e) {
      const retriable = e instanceof ApiProblem ? e.status === 409 || e.status >= 500 : e instanceof TypeError;
      if (!retriable || attempt >= 4) throw e;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

async function runCommand(
  client: ScrapeClient,
  out: Output,
  io: Io,
  file: string,
  flags: Flags,
  baseUrl: string,
): Promise<number> {
  // Bad flags are told before stdin is read or anything is created.
  const politeness = politenessOf(flags);
  const text = file === "-" ? await readAll(io.stdin) : readFile(file);
  const requests = readRequests(text, flags);
  const name = flags.name ?? (file === "-" ? `stdin ${new Date().toISOString()}` : path.basename(file));
  const body = {
    name,
    requests,
    ...(flags.webhook ? { webhook: { url: flags.webhook } } : {}),
    ...(politeness ? { politeness } : {}),
  };
  const createKey = crypto.randomUUID();
  const col = await withRetries(() => client.createCollection(body, { idempotencyKey: createKey }));
  const runKey = crypto.randomUUID();
  const started = await withRetries(() => client.startRun(col.id, { idempotencyKey: runKey }));
  const cid = col.id;
  const rid = started.run_id;
  out.info(
    `collection ${cid} (${col.total_requests} requests${skipped(col.duplicates_skipped)})\n` +
      `run ${rid} started at ${baseUrl}\n`,
  );

  const tty = !out.json && io.stderr.isTTY === true;
  const meter = new ProgressMeter(started.total_requests);
  let last: RunSummary = started;
  let drawn = false;
  let paused = false;
  let lastPlain = 0;
  const draw = (force = false) => {
    if (out.json || paused) return;
    const p = meter.snapshot(last);
    if (tty) {
      const width = Math.max(20, Math.min(40, (io.stderr.columns ?? 80) - 70));
      io.stderr.write(`\r\x1b[2K${renderBar(p, width)}`);
      drawn = true;
    } else if (force || Date.now() - lastPlain >= 2_000) {
      io.stderr.write(`${renderLine(p)}\n`);
      lastPlain = Date.now();
    }
  };
  const abort = new AbortController();
  const pollMs = flags.poll ? Math.max(100, Number(flags.poll)) : tty ? 500 : 1_000;

  // Ctrl-C asks whether to cancel the run (it goes on on the server otherwise); a second one while
  // asking quits at once.
  let asking = false;
  let interrupt = () => {};
  const nextInterrupt = () => new Promise<null>((r) => (interrupt = () => r(null)));
  const onSigint = () => (asking ? process.exit(130) : interrupt());
  process.on("SIGINT", onSigint);

  const sink = flags.out ? fs.createWriteStream(flags.out) : null;
  let written = 0;
  let writing: Promise<void> | null = null;
  try {
    const watch = client.waitForRun(cid, rid, {
      intervalMs: pollMs,
      signal: abort.signal,
      onProgress: (r) => {
        last = r;
        draw();
      },
    });
    writing = sink ? writeResults(client, cid, rid, sink, pollMs, abort.signal, () => written++) : null;
    const done = Promise.all([watch, writing]).then(([r]) => ({ r }));
    // Once aborted after an interrupt, the pollers reject with the abort: nobody waits for them then.
    done.catch(() => undefined);
    for (;;) {
      const winner = await Promise.race([done, nextInterrupt()]);
      if (winner) {
        last = winner.r;
        break;
      }
      asking = true;
      const code = await askCancel();
      asking = false;
      if (code !== null) return code;
    }
    draw(true);
    if (tty && drawn) io.stderr.write("\n");
  } finally {
    process.off("SIGINT", onSigint);
    abort.abort();
    // The writer stops at the abort and finishes the lines in hand before the file is closed.
    await writing?.catch(() => undefined);
    if (sink) await new Promise<void>((r) => sink.end(r));
  }
  const r = last;
  const failed = r.failed_requests + r.timeout_requests;
  out.result({ ...r, ...(flags.out ? { out: flags.out, lines: written } : {}) }, () => {
    const wrote = flags.out ? `; ${written} results in ${flags.out}` : "";
    return `${summaryLine(r)}${wrote}\n`;
  });
  return flags["fail-on-error"] && failed > 0 ? 1 : 0;

  /** The exit code once the user chose to stop, or null to keep watching. */
  async function askCancel(): Promise<number | null> {
    paused = true;
    if (drawn) io.stderr.write("\n");
    const hint = `scrape-api cancel ${cid} ${rid}`;
    if (!io.stdin.isTTY) {
      io.stderr.write(`Interrupted. The run goes on on the server; \`${hint}\` cancels it.\n`);
      return 130;
    }
    const rl = readline.createInterface({ input: io.stdin, output: io.stderr });
    // Ctrl-C at the prompt reaches readline, not the process: quit, as a second Ctrl-C does.
    rl.on("SIGINT", () => process.exit(130));
    const answer = await new Promise<string>((res) => rl.question(`Cancel run ${rid}? [y/N] `, res));
    rl.close();
    if (/^y(es)?$/i.test(answer.trim())) {
      io.stderr.write(`${summaryLine(await client.cancelRun(cid, rid))}\n`);
      return 130;
    }
    io.stderr.write(`Not cancelled; still watching (\`${hint}\` cancels it later).\n`);
    paused = false;
    return null;
  }
}

/**
 * Streams the run's finished jobs (iterateJobs) and appends each, with its result formats, to the
 * NDJSON file as soon as its result is read.
 */
async function writeResults(
  client: ScrapeClient,
  cid: string,
  rid: string,
  sink: fs.WriteStream,
  pollMs: number,
  signal: AbortSignal,
  onLine: () => void,
) {
  const inFlight = new Set<Promise<void>>();
  const write = (line: string) =>
    new Promise<void>((resolve, reject) => sink.write(line, (e) => (e ? reject(e) : resolve())));
  let stopped: unknown = null;
  try {
    for await (const job of client.iterateJobs(cid, rid, { pollMs, signal })) {
      const p = resultLine(client, cid, rid, job)
        .then(write)
        .then(onLine)
        .finally(() => inFlight.delete(p));
      // Its failure is reported below, once the iteration ends, not as an unhandled rejection now.
      p.catch(() => undefined);
      inFlight.add(p);
      if (inFlight.size >= RESULT_READS) await Promise.race(inFlight);
    }
  } catch (e) {
    stopped = e;
  }
  // Also when the iteration was aborted: no write may outlive this function (the file closes next).
  const failed = (await Promise.allSettled(inFlight)).find((r) => r.status === "rejected");
  if (stopped) throw stopped;
  if (failed) throw failed.reason;
}

/** One NDJSON line: the job, then the result's format fields (html, markdown, text, links, …). */
async function resultLine(client: ScrapeClient, cid: string, rid: string, job: Job): Promise<string> {
  const result = await client.getResult(cid, rid, job.job_id, "json");
  const {
    job_id: _id,
    url: _url,
    final_url: _final,
    custom_id: _custom,
    status: _status,
    status_code: _code,
    blocked_reason: _blocked,
    error: _error,
    timings: _timings,
    ...formats
  } = result;
  return `${JSON.stringify({ ...job, ...formats })}\n`;
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`Cannot read ${file}: ${(e as Error).message}`);
  }
}

async function readAll(stream: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}
