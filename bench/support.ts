/**
 * Helpers for bench/run.ts: the isolated Worker process, its memory, the HTTP client, statistics.
 * Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

export function log(msg: string) {
  const t = new Date().toISOString().slice(11, 19);
  console.log(`[bench ${t}] ${msg}`);
}

// ── statistics ───────────────────────────────────────────────────────────────────────────────

/** Nearest-rank percentile: always a value that was actually measured. */
export function pct(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

export const median = (values: number[]) => pct(values, 50);

export function fmt(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return v.toFixed(digits);
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

// ── ports ────────────────────────────────────────────────────────────────────────────────────

/** `n` distinct free ports: all listeners stay open until every port is known, so none repeats. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.unref();
          s.on("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

// ── processes ────────────────────────────────────────────────────────────────────────────────

export function procTable(): Map<number, { ppid: number; comm: string }> {
  const out = new Map<number, { ppid: number; comm: string }>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      // comm may contain spaces and parentheses: the fields after it start at the last ')'.
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      out.set(Number(name), { ppid, comm });
    } catch {
      // the process exited while we listed /proc
    }
  }
  return out;
}

export function descendants(root: number): { pid: number; comm: string }[] {
  const procs = procTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(pid);
    children.set(p.ppid, list);
  }
  const out: { pid: number; comm: string }[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push({ pid, comm: procs.get(pid)?.comm ?? "" });
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** RSS of the workerd processes under the wrangler process tree (the Worker, its DOs and queues). */
export function workerdRssMb(root: number): number {
  const pids = descendants(root).filter((p) => p.comm.startsWith("workerd"));
  return pids.reduce((sum, p) => sum + rssKb(p.pid), 0) / 1024;
}

/** Samples workerd RSS every `everyMs` until stopped; the bench awaits HTTP meanwhile, so the timer runs. */
export function rssSampler(root: number, everyMs = 100) {
  const samples: number[] = [workerdRssMb(root)];
  const timer = setInterval(() => samples.push(workerdRssMb(root)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(workerdRssMb(root));
      return { peakMb: Math.max(...samples), samples: samples.length };
    },
  };
}

export async function idleRssMb(root: number, ms = 1000): Promise<number> {
  const s: number[] = [];
  for (let t = 0; t < ms; t += 100) {
    s.push(workerdRssMb(root));
    await sleep(100);
  }
  return median(s) ?? 0;
}

export type WorkerProc = {
  origin: string;
  pid: number;
  logFile: string;
  stop: () => Promise<void>;
  logTail: (lines?: number) => string;
  logSize: () => number;
  queueBatches: (from: number, to?: number) => QueueBatch[];
};

export type QueueBatch = { queue: string; acked: number; total: number; ms: number };

const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

function run(cmd: string, args: string[], opts: { cwd: string; logFd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      stdio: ["ignore", opts.logFd, opts.logFd],
      env: { ...process.env, ...WRANGLER_ENV },
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}`)),
    );
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Copies the Worker's source into a temp dir and runs `wrangler dev` on the copy: other engineers
 * edit src/ while the bench runs, and wrangler dev reloads on every change, which would reset
 * the usage counters and interrupt queue batches mid-measurement. node_modules is a symlink so
 * the bundler still resolves the project's dependencies. The bench's own entry (bench/worker-entry.ts)
 * goes with it, at the same place relative to src/.
 */
export function snapshotWorker(projectDir: string, into: string): string {
  const dir = path.join(into, "worker");
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ["src", "migrations"]) fs.cpSync(path.join(projectDir, f), path.join(dir, f), { recursive: true });
  for (const f of ["wrangler.toml", "tsconfig.json", "package.json"])
    fs.copyFileSync(path.join(projectDir, f), path.join(dir, f));
  fs.mkdirSync(path.join(dir, "bench"));
  fs.copyFileSync(path.join(projectDir, "bench", ENTRY), path.join(dir, "bench", ENTRY));
  fs.symlinkSync(path.join(projectDir, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/** The Worker's entry under the bench: src/worker.ts plus counters for the run objects' own storage. */
const ENTRY = "worker-entry.ts";

export async function startWorker(opts: {
  projectDir: string;
  tmp: string;
  vars: Record<string, string>;
  onSpawn: (stop: () => Promise<void>) => void;
}): Promise<WorkerProc> {
  const workerDir = snapshotWorker(opts.projectDir, opts.tmp);
  const state = path.join(opts.tmp, "state");
  const logFile = path.join(opts.tmp, "wrangler.log");
  const logFd = fs.openSync(logFile, "a");
  const config = path.join(workerDir, "wrangler.toml");
  await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "-c", config, "--persist-to", state], {
    cwd: opts.projectDir,
    logFd,
  });
  fs.closeSync(logFd);

  const vars = Object.entries(opts.vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  let child: ChildProcess | null = null;
  let stopped: Promise<void> | null = null;
  const stopChild = async (c: ChildProcess) => {
    // Remember the tree first: a child that re-parents after wrangler exits would escape the group kill.
    const tree = descendants(c.pid!).map((p) => p.pid);
    killGroup(c, "SIGTERM");
    for (let i = 0; i < 50 && c.exitCode === null && c.signalCode === null; i++) await sleep(100);
    killGroup(c, "SIGKILL");
    for (const p of tree) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  const stop = () => (stopped ??= child ? stopChild(child) : Promise.resolve());
  opts.onSpawn(stop);

  let origin = "";
  // A port picked free can be taken before workerd binds it (other test runs share the box):
  // "Address already in use" gets fresh ports, up to three tries.
  for (let attempt = 1; ; attempt++) {
    // Our own inspector port: the default (9229) may belong to another engineer's `npm start`.
    const [port, inspector] = await freePorts(2);
    const args = [
      "wrangler",
      "dev",
      path.join(workerDir, "bench", ENTRY),
      "-c",
      config,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspector),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
      ...vars,
    ];
    const logFrom = fs.statSync(logFile).size;
    const fd = fs.openSync(logFile, "a");
    // detached: its own process group, so npx, wrangler, workerd and any Chromium can be ended together.
    const c = spawn("npx", args, {
      cwd: opts.projectDir,
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...WRANGLER_ENV },
    });
    fs.closeSync(fd);
    child = c;
    origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 180_000;
    let up = false;
    while (!up) {
      if (c.exitCode !== null) break;
      try {
        const r = await fetch(`${origin}/v1/health`, { signal: AbortSignal.timeout(2000) });
        up = r.ok;
      } catch {
        // not listening yet
      }
      if (up) break;
      if (Date.now() > deadline) throw new Error(`the Worker did not answer /v1/health within 180 s; log ${logFile}`);
      await sleep(250);
    }
    if (up) break;
    const said = fs.readFileSync(logFile, "utf8").slice(logFrom);
    await stopChild(c);
    if (attempt < 3 && /address already in use/i.test(said)) continue;
    throw new Error(`wrangler dev exited with ${c.exitCode}; log ${logFile}`);
  }
  const pid = child!.pid!;
  const logTail = (lines = 30) => {
    try {
      return fs.readFileSync(logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  };
  const logSize = () => {
    try {
      return fs.statSync(logFile).size;
    } catch {
      return 0;
    }
  };
  // miniflare logs every delivered batch as "QUEUE <name> <acked>/<total> (<ms>ms)": the only view of
  // how long the consumer spends per batch, and it delivers one batch per queue at a time.
  const queueBatches = (from: number, to = logSize()): QueueBatch[] => {
    const fd = fs.openSync(logFile, "r");
    try {
      const buf = Buffer.alloc(Math.max(0, to - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      const text = buf.toString("utf8").replace(/\x1b\[[0-9;]*m/g, "");
      const out: QueueBatch[] = [];
      for (const m of text.matchAll(/QUEUE (\S+) (\d+)\/(\d+) \((\d+)ms\)/g))
        out.push({ queue: m[1], acked: Number(m[2]), total: Number(m[3]), ms: Number(m[4]) });
      return out;
    } finally {
      fs.closeSync(fd);
    }
  };
  return { origin, pid, logFile, stop, logTail, logSize, queueBatches };
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "scrape-bench-"));
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────────

export type Resp = { status: number; body: any; ms: number; headers: Headers };

export function client(origin: string) {
  let apiKey = "";
  let adminToken = "";
  let rateLimitedWaits = 0;
  // Send instants of tenant requests, to show how close to the limiter's 10 s windows we came.
  const sent: number[] = [];

  /** One request; `ms` is wall time until the whole body has arrived. */
  async function raw(
    method: string,
    p: string,
    opts: { body?: unknown; auth?: "key" | "admin" | "none"; rawBody?: string } = {},
  ): Promise<Resp> {
    const headers: Record<string, string> = {};
    const auth = opts.auth ?? "key";
    if (auth === "key") headers.authorization = `Bearer ${apiKey}`;
    if (auth === "admin") headers.authorization = `Bearer ${adminToken}`;
    let payload: string | undefined = opts.rawBody;
    if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined) headers["content-type"] = "application/json";
    if (auth === "key") sent.push(Date.now());
    const t0 = now();
    const r = await fetch(origin + p, { method, headers, body: payload });
    const text = await r.text();
    const ms = now() - t0;
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON (HTML result or empty)
    }
    return { status: r.status, body, ms, headers: r.headers };
  }

  /**
   * A control-plane request (not one whose latency is measured): waits out a 429 and tries again,
   * because the tenant limit (1,000 per 10 s) is shared with the pollers.
   */
  async function call(
    method: string,
    p: string,
    opts: { body?: unknown; auth?: "key" | "admin" | "none"; rawBody?: string; expect?: number[] } = {},
  ): Promise<Resp> {
    for (let attempt = 0; ; attempt++) {
      const r = await raw(method, p, opts);
      if (r.status === 429 && attempt < 10) {
        rateLimitedWaits++;
        const wait = Number(r.headers.get("retry-after") ?? "1");
        log(`429 on ${method} ${p.split("?")[0]}: waiting ${wait} s`);
        await sleep(wait * 1000);
        continue;
      }
      if (opts.expect && !opts.expect.includes(r.status)) {
        throw new Error(
          `${method} ${p} → ${r.status}: ${typeof r.body === "string" ? r.body.slice(0, 300) : JSON.stringify(r.body).slice(0, 300)}`,
        );
      }
      return r;
    }
  }

  return {
    raw,
    call,
    setKey(k: string) {
      apiKey = k;
    },
    setAdmin(t: string) {
      adminToken = t;
    },
    get rateLimitedWaits() {
      return rateLimitedWaits;
    },
    /** Most tenant requests sent in one wall-clock-aligned window (miniflare's limiter uses such windows). */
    maxPerWindow(periodMs: number, since = 0): { max: number; windowStart: string | null } {
      const counts = new Map<number, number>();
      for (const t of sent)
        if (t >= since) counts.set(Math.floor(t / periodMs), (counts.get(Math.floor(t / periodMs)) ?? 0) + 1);
      let max = 0;
      let at: number | null = null;
      for (const [w, c] of counts) if (c > max) [max, at] = [c, w];
      return { max, windowStart: at === null ? null : new Date(at * periodMs).toISOString() };
    },
  };
}
export type Client = ReturnType<typeof client>;
