import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import * as store from "../../src/do/job-store";
import type { RunCoordinator } from "../../src/do/run-coordinator";

const stub = () => env.RUNS.get(env.RUNS.idFromName(crypto.randomUUID()));
const tables = (sql: SqlStorage) =>
  sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .toArray()
    .map((r) => r.name);

describe("job store upgrade", () => {
  it("brings a run object of the first schema up to date, and creates nothing in one never started", async () => {
    await runInDurableObject(stub(), (_: RunCoordinator, state: DurableObjectState) => {
      const sql = state.storage.sql;
      store.upgrade(sql);
      expect(tables(sql).filter((t) => !t.startsWith("_cf"))).toEqual([]);
      // An object started by the previous version: the first migration only.
      store.migrate(sql);
      sql.exec("DROP TABLE extract_fields");
      sql.exec("ALTER TABLE run DROP COLUMN synced_ms");
      sql.exec("ALTER TABLE run DROP COLUMN synced_count");
      sql.exec("ALTER TABLE jobs DROP COLUMN markdown_offset");
      sql.exec("ALTER TABLE jobs DROP COLUMN markdown_length");
      for (const c of ["fetch_jobs", "browser_jobs", "browser_ms", "bytes_stored"])
        sql.exec(`ALTER TABLE run DROP COLUMN ${c}`);
      sql.exec("DROP TABLE deliveries");
      sql.exec("ALTER TABLE run DROP COLUMN webhook");
      sql.exec("ALTER TABLE run DROP COLUMN events_ms");
      sql.exec("DROP INDEX jobs_pending_by_host");
      sql.exec("ALTER TABLE jobs DROP COLUMN host");
      sql.exec("ALTER TABLE run DROP COLUMN per_host_concurrency");
      sql.exec("ALTER TABLE run DROP COLUMN per_host_delay_ms");
      sql.exec("UPDATE schema_version SET version = 1");
      store.upgrade(sql);
      expect(tables(sql)).toEqual(expect.arrayContaining(["extract_fields", "deliveries"]));
      const columns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('run')")
        .toArray()
        .map((c) => c.name);
      expect(columns).toEqual(
        expect.arrayContaining([
          "synced_ms",
          "synced_count",
          "fetch_jobs",
          "browser_jobs",
          "browser_ms",
          "bytes_stored",
          "webhook",
          "events_ms",
          "per_host_concurrency",
          "per_host_delay_ms",
        ]),
      );
      const jobColumns = sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('jobs')")
        .toArray()
        .map((c) => c.name);
      expect(jobColumns).toEqual(expect.arrayContaining(["markdown_offset", "markdown_length", "host"]));
      expect(sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version).toBe(7);
      const spec = (extract?: object) => JSON.stringify({ timeout: 30_000, extract });
      store.insertJobs(
        sql,
        [
          { seq: 0, url: "https://a.example/", custom_id: null, browser: 0, spec: spec({ b: {}, a: {} }) },
          { seq: 1, url: "https://b.example/", custom_id: null, browser: 0, spec: spec() },
          { seq: 2, url: "https://c.example/", custom_id: null, browser: 0, spec: spec({ c: {}, a: {} }) },
        ],
        null,
      );
      expect(store.extractFieldNames(sql)).toEqual(["b", "a", "c"]);
      // Jobs created after the upgrade know their host (politeness counts per host).
      expect(store.pendingHosts(sql, "", 10)).toEqual(["a.example", "b.example", "c.example"]);
    });
  });
});
