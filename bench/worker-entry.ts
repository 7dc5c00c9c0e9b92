/**
 * The Worker as `npm run bench` runs it: src/worker.ts unchanged, plus the operations its own
 * bench-mode counters (src/metrics.ts) cannot see because they happen inside a run's object: the
 * statements and rows of its SQLite, its alarm invocations and its setAlarm calls. Cloudflare bills
 * all of them (SQLite rows at D1's rates, an alarm as a request, a setAlarm as a row written), so a
 * unit cost without them is incomplete. A counter src/metrics.ts already has is left to it, so
 * nothing is counted twice once the Worker counts these itself.
 *
 * Bundled by wrangler with the snapshot of src/ (bench/support.ts), never by the project's build.
 */
import { usage } from "../src/metrics";
import worker, { HostGate, IdempotencyStore, RunCoordinator as Coordinator } from "../src/worker";

const OWN = ["do_sql_statements", "do_sql_rows_read", "do_sql_rows_written", "do_alarms", "do_set_alarms"] as const;
type Own = (typeof OWN)[number];

// GET /v1/admin/usage serves every key of `usage` and the reset zeroes every key, these included.
const counters = usage as unknown as Record<string, number>;
const counted = new Set<Own>(OWN.filter((k) => !(k in counters)));
for (const k of counted) counters[k] = 0;
const add = (k: Own, n = 1) => {
  if (counted.has(k)) counters[k] += n;
};

type Row = Record<string, SqlStorageValue>;

/**
 * A cursor already read to its end: SQLite reports rowsRead and rowsWritten only once a statement
 * has run to completion, and every caller in the job store reads its cursors whole anyway.
 */
function readCursor(columns: string[], raw: SqlStorageValue[][], rowsRead: number, rowsWritten: number) {
  let at = 0;
  const rest = () => raw.slice(at);
  const asObject = (r: SqlStorageValue[]) => Object.fromEntries(columns.map((c, i) => [c, r[i]])) as Row;
  const next = (): IteratorResult<Row, undefined> =>
    at < raw.length ? { done: false, value: asObject(raw[at++]) } : { done: true, value: undefined };
  return {
    columnNames: columns,
    rowsRead,
    rowsWritten,
    next,
    toArray: () => {
      const rows = rest().map(asObject);
      at = raw.length;
      return rows;
    },
    one: () => {
      const rows = rest();
      if (rows.length !== 1) throw new Error(`Expected exactly one result from SQL query, but got ${rows.length}.`);
      at = raw.length;
      return asObject(rows[0]);
    },
    raw: () => {
      const rows = rest();
      at = raw.length;
      return Object.assign(rows[Symbol.iterator](), { toArray: () => rows });
    },
    [Symbol.iterator]() {
      return {
        next,
        [Symbol.iterator]() {
          return this;
        },
      };
    },
  };
}

function countingSql(sql: SqlStorage): SqlStorage {
  return new Proxy(sql, {
    get(target, prop) {
      if (prop !== "exec") {
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (query: string, ...bindings: unknown[]) => {
        const cursor = target.exec(query, ...bindings);
        const raw = [...cursor.raw()];
        add("do_sql_statements");
        add("do_sql_rows_read", cursor.rowsRead);
        add("do_sql_rows_written", cursor.rowsWritten);
        return readCursor(cursor.columnNames, raw, cursor.rowsRead, cursor.rowsWritten);
      };
    },
  });
}

/** Shadows the storage's `sql` and `setAlarm` on this object's own storage, before the class reads them. */
function countStorage(storage: DurableObjectStorage) {
  const sql = countingSql(storage.sql);
  const setAlarm = storage.setAlarm.bind(storage);
  Object.defineProperty(storage, "sql", { value: sql, configurable: true });
  Object.defineProperty(storage, "setAlarm", {
    value: (...args: Parameters<DurableObjectStorage["setAlarm"]>) => {
      add("do_set_alarms");
      return setAlarm(...args);
    },
    configurable: true,
  });
}

export class RunCoordinator extends Coordinator {
  constructor(ctx: DurableObjectState, env: Env) {
    if (env.BENCH_METRICS === "true") countStorage(ctx.storage);
    super(ctx, env);
  }

  override async alarm(): Promise<void> {
    add("do_alarms");
    return super.alarm();
  }
}

export { HostGate, IdempotencyStore };
export default worker;
