/**
 * Bytes on disk of the local D1 database and of a run's Durable Object, read from the SQLite files
 * wrangler dev keeps under its persist directory (`<state>/v3/d1/…`, `<state>/v3/do/<script>-<class>/…`).
 * Sizes come from SQLite's `dbstat` table (through the WAL, so without a checkpoint): bytes
 * allocated per table and index, and bytes used (allocated less the free space in each page),
 * which is what a few hundred rows change where whole pages would hide it.
 *
 * Erasable-syntax TypeScript only: Node 22 runs this file by stripping types.
 */
import fs from "node:fs";
import path from "node:path";

// node:sqlite announces itself as experimental on first use; the bench prints tables, not that.
const emitWarning = process.emitWarning;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (String(warning).includes("SQLite is an experimental feature")) return;
  return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
}) as typeof process.emitWarning;
const { DatabaseSync } = await import("node:sqlite");

export type SqliteBytes = {
  /** The database file and its WAL, as they sit on disk. */
  file_bytes: number;
  allocated: number;
  used: number;
  /** Per table or index: bytes allocated and used. */
  objects: Record<string, { allocated: number; used: number }>;
};

function open(file: string) {
  return new DatabaseSync(file, { readOnly: true });
}

export function sqliteBytes(file: string): SqliteBytes {
  const db = open(file);
  try {
    const rows = db
      .prepare("SELECT name, sum(pgsize) AS allocated, sum(pgsize - unused) AS used FROM dbstat GROUP BY name")
      .all() as { name: string; allocated: number; used: number }[];
    const objects = Object.fromEntries(rows.map((r) => [r.name, { allocated: r.allocated, used: r.used }]));
    const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
    return {
      file_bytes: size(file) + size(`${file}-wal`),
      allocated: rows.reduce((a, r) => a + r.allocated, 0),
      used: rows.reduce((a, r) => a + r.used, 0),
      objects,
    };
  } finally {
    db.close();
  }
}

/** What grew between two measurements of the same database, in total and per table or index. */
export function grown(before: SqliteBytes, after: SqliteBytes) {
  const names = new Set([...Object.keys(before.objects), ...Object.keys(after.objects)]);
  const objects: Record<string, { allocated: number; used: number }> = {};
  for (const n of names) {
    const a = after.objects[n] ?? { allocated: 0, used: 0 };
    const b = before.objects[n] ?? { allocated: 0, used: 0 };
    if (a.used !== b.used || a.allocated !== b.allocated) {
      objects[n] = { allocated: a.allocated - b.allocated, used: a.used - b.used };
    }
  }
  return { allocated: after.allocated - before.allocated, used: after.used - before.used, objects };
}

/** SQLite files of one kind of storage, without miniflare's own metadata database. */
function databases(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")
    .map((f) => path.join(dir, f));
}

/** The local D1 database (the bench binds exactly one). */
export function d1File(state: string): string {
  const root = path.join(state, "v3", "d1");
  const files = fs.existsSync(root) ? fs.readdirSync(root).flatMap((d) => databases(path.join(root, d))) : [];
  if (files.length !== 1) throw new Error(`expected one D1 database under ${root}, found ${files.length}`);
  return files[0];
}

/** The SQLite file of the run's Durable Object: the one whose `run` row names it. */
export function runObjectFile(state: string, runId: string): string | null {
  const root = path.join(state, "v3", "do");
  if (!fs.existsSync(root)) return null;
  for (const dir of fs.readdirSync(root).filter((d) => d.endsWith("-RunCoordinator"))) {
    for (const file of databases(path.join(root, dir))) {
      const db = open(file);
      try {
        const row = db.prepare("SELECT run_id FROM run").get() as { run_id: string } | undefined;
        if (row?.run_id === runId) return file;
      } catch {
        // an object that never started a run has no `run` table
      } finally {
        db.close();
      }
    }
  }
  return null;
}

/** Bytes of the job rows and their indexes, and of the whole object, in a run's database. */
export function jobStoreBytes(file: string) {
  const all = sqliteBytes(file);
  const db = open(file);
  let jobObjects: string[];
  try {
    const rows = db.prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'jobs'").all() as { name: string }[];
    jobObjects = rows.map((r) => r.name);
  } finally {
    db.close();
  }
  const jobs = { allocated: 0, used: 0 };
  for (const n of jobObjects) {
    jobs.allocated += all.objects[n]?.allocated ?? 0;
    jobs.used += all.objects[n]?.used ?? 0;
  }
  return { all, jobs };
}

/**
 * Samples, once a second, how many of the run's jobs its object has released and not yet seen end:
 * the pacing window as it really is, which the API does not show.
 */
export function windowSampler(state: string, runId: string, everyMs = 1_000) {
  let file: string | null = null;
  const samples: number[] = [];
  const timer = setInterval(() => {
    try {
      file ??= runObjectFile(state, runId);
      if (!file) return;
      const db = open(file);
      try {
        const row = db.prepare("SELECT count(*) AS n FROM jobs WHERE status = 'in_progress'").get() as { n: number };
        samples.push(row.n);
      } finally {
        db.close();
      }
    } catch {
      // the object's tables are not there yet
    }
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const sorted = [...samples].sort((a, b) => a - b);
      const p50 = sorted.length ? sorted[Math.ceil(sorted.length / 2) - 1] : null;
      return { samples: samples.length, p50, max: sorted.length ? sorted[sorted.length - 1] : null };
    },
  };
}
