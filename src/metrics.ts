import { settings } from "./config";
/**
 * Operation counters for the benchmark's unit costs, counted by the code itself (not estimated).
 * Off unless BENCH_METRICS=true: then the Worker's bindings are wrapped so that every D1
 * statement (and its rows read/written), Durable Object call, queue message, R2 operation and
 * browser second is counted in this isolate. Locally the Worker, its queue consumers and its
 * Durable Objects share one isolate, so one set of counters sees them all.
 */
export const usage = {
  worker_invocations: 0,
  d1_statements: 0,
  d1_write_statements: 0,
  d1_rows_read: 0,
  d1_rows_written: 0,
  do_requests: 0,
  /** The part of do_requests that went to the tenants' HostGates (per-host politeness). */
  do_gate_requests: 0,
  queue_messages: 0,
  queue_send_calls: 0,
  r2_class_a: 0,
  r2_class_b: 0,
  /** R2 calls as made (a multi-key delete is one), which is what per-invocation limits count. */
  r2_requests: 0,
  browser_ms: 0,
  browser_launches: 0,
  browser_reuses: 0,
};
export type Usage = typeof usage;

export const benchMode = (env: Env) => settings(env).BENCH_METRICS;

export function resetUsage() {
  for (const k of Object.keys(usage) as (keyof Usage)[]) usage[k] = 0;
}

export function count(k: keyof Usage, n = 1) {
  usage[k] += n;
}

const WRITE_SQL = /^\s*(insert|update|delete|replace)\b/i;

type Meta = { meta?: { rows_read?: number; rows_written?: number } };
function tally(sql: string, r: unknown) {
  usage.d1_statements++;
  if (WRITE_SQL.test(sql)) usage.d1_write_statements++;
  const meta = (r as Meta | null)?.meta;
  usage.d1_rows_read += meta?.rows_read ?? 0;
  usage.d1_rows_written += meta?.rows_written ?? 0;
}

/** A property of the wrapped binding as it is, methods bound to it (the binding checks `this`). */
function passthrough(target: object, prop: PropertyKey): unknown {
  const v = Reflect.get(target, prop);
  return typeof v === "function" ? v.bind(target) : v;
}

const realStatement = new WeakMap<object, D1PreparedStatement>();
const sqlOf = new WeakMap<D1PreparedStatement, string>();

function wrapStatement(stmt: D1PreparedStatement, sql: string): D1PreparedStatement {
  sqlOf.set(stmt, sql);
  const proxy = new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args: unknown[]) => wrapStatement(target.bind(...args), sql);
      if (prop === "run" || prop === "all" || prop === "raw") {
        return async (...args: unknown[]) => {
          const r = await (target[prop] as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          tally(sql, prop === "raw" ? null : r);
          return r;
        };
      }
      if (prop === "first") {
        // first() returns no meta: count the statement, rows as one read per row returned.
        return async (...args: unknown[]) => {
          const r = await (target.first as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          tally(sql, { meta: { rows_read: r ? 1 : 0 } });
          return r;
        };
      }
      return passthrough(target, prop);
    },
  });
  realStatement.set(proxy, stmt);
  return proxy;
}

function wrapD1(db: D1Database): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => wrapStatement(target.prepare(sql), sql);
      if (prop === "batch") {
        return async (stmts: D1PreparedStatement[]) => {
          const real = stmts.map((s) => realStatement.get(s) ?? s);
          const results = await target.batch(real);
          results.forEach((r, i) => tally(sqlOf.get(real[i]) ?? "", r));
          return results;
        };
      }
      return passthrough(target, prop);
    },
  });
}

const R2_CLASS_A = new Set(["put", "delete", "list", "createMultipartUpload"]);
const R2_CLASS_B = new Set(["get", "head"]);

function wrapR2(bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        usage.r2_requests++;
        if (R2_CLASS_A.has(String(prop))) {
          // A multi-key delete is one request but R2 bills each key as a class A operation.
          usage.r2_class_a += prop === "delete" && Array.isArray(args[0]) ? (args[0] as unknown[]).length : 1;
        } else if (R2_CLASS_B.has(String(prop))) usage.r2_class_b++;
        return v.apply(target, args);
      };
    },
  });
}

function wrapQueue<T>(q: Queue<T>): Queue<T> {
  return new Proxy(q, {
    get(target, prop) {
      if (prop === "send")
        return (...args: Parameters<Queue<T>["send"]>) => (
          usage.queue_messages++, usage.queue_send_calls++, target.send(...args)
        );
      if (prop === "sendBatch")
        return (msgs: Iterable<MessageSendRequest<T>>, o?: QueueSendBatchOptions) => {
          const list = [...msgs];
          usage.queue_messages += list.length;
          usage.queue_send_calls++;
          return target.sendBatch(list, o);
        };
      return passthrough(target, prop);
    },
  });
}

function wrapNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  ns: DurableObjectNamespace<T>,
  also?: keyof Usage,
): DurableObjectNamespace<T> {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const object = target.get(id);
          return new Proxy(object, {
            get(s, p) {
              const v = Reflect.get(s, p);
              if (typeof v !== "function" || p === "fetch" || typeof p === "symbol") return v;
              return (...args: unknown[]) => {
                usage.do_requests++;
                if (also) usage[also]++;
                return Reflect.apply(v as (...a: unknown[]) => unknown, s, args);
              };
            },
          });
        };
      }
      return passthrough(target, prop);
    },
  });
}

const wrapped = new WeakMap<object, Env>();

/** The env with counting bindings in bench mode; the env itself otherwise. */
export function instrument(env: Env): Env {
  if (!benchMode(env)) return env;
  const hit = wrapped.get(env);
  if (hit) return hit;
  const w: Env = {
    ...env,
    DB: wrapD1(env.DB),
    BODIES: wrapR2(env.BODIES),
    JOBS: wrapQueue(env.JOBS),
    BROWSER_JOBS: wrapQueue(env.BROWSER_JOBS),
    RUNS: wrapNamespace(env.RUNS),
    IDEMPOTENCY: wrapNamespace(env.IDEMPOTENCY),
    HOST_GATES: wrapNamespace(env.HOST_GATES, "do_gate_requests"),
  };
  wrapped.set(env, w);
  return w;
}
