/**
 * The per-run job store at size: a 100,000-job run is created in pages by its object (never in one
 * call), pins its request list against a PUT, and pages through its jobs by index ranges.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, startRun, target } from "./support/api";

const N = 100_000;

/** Fills a collection's request list with N rows directly (the API caps a collection at 10,000). */
async function bigCollection(key: string) {
  const col = await createCollection(key, [{ url: target("/page/0") }]);
  const spec = JSON.stringify({ screenshot: false, full_page: false, actions: [], timeout: 30_000 });
  await env.DB.batch([
    env.DB.prepare("DELETE FROM requests WHERE collection_id = ?1").bind(col.id),
    env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1)
       INSERT INTO requests (collection_id, version, seq, url, custom_id, browser, spec)
       SELECT ?1, 1, i, ?3 || i, 'c' || i, 0, ?4 FROM n`,
    ).bind(col.id, N, target("/hang?"), spec),
    env.DB.prepare("UPDATE collections SET total_requests = ?2 WHERE id = ?1").bind(col.id, N),
  ]);
  return col;
}

describe("a 100,000-job run", () => {
  it("is created in pages by its object, keeps to its pinned list, and lists by index ranges", async () => {
    const { key } = await newTenant();
    const col = await bigCollection(key);
    const run = await startRun(key, col.id);
    expect(run.total_requests).toBe(N);
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    const created = () =>
      runInDurableObject(
        stub,
        (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT created_jobs AS n FROM run").one().n,
      );
    // POST /run created one page; the rest is the alarm's work, a page per transaction.
    expect(await created()).toBeLessThan(N);
    // Replacing the list does not change the run: it pinned version 1.
    const put = await api(`/v1/async/collections/${col.id}`, {
      method: "PUT",
      key,
      json: { requests: [{ url: target("/ok") }] },
    });
    expect(put.status).toBe(200);
    for (let i = 0; i < 20 && (await created()) < N; i++) await runDurableObjectAlarm(stub);
    expect(await created()).toBe(N);
    // Only a window of jobs was released into the queue, whatever the run's size.
    const released = await runInDurableObject(
      stub,
      (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE releases > 0").one().n,
    );
    expect(released).toBeLessThanOrEqual(2_000);
    // Pages deep into the run come from the pinned list, in submission order.
    const page = async (cursor: string | null) => {
      const res = await api(
        `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?limit=500${cursor ? `&cursor=${cursor}` : ""}`,
        { key },
      );
      expect(res.status).toBe(200);
      return (await res.json()) as { items: { custom_id: string; url: string }[]; cursor_next: string | null };
    };
    let p = await page(null);
    for (let i = 0; i < 3; i++) p = await page(p.cursor_next);
    expect(p.items[0].custom_id).toBe("c1500");
    expect(p.items.at(-1)!.url).toBe(target("/hang?1999"));
    const pending = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?status_filter=pending&limit=1`, {
      key,
    });
    expect(((await pending.json()) as { items: unknown[] }).items).toHaveLength(1);
    // Cancelling ends every one of them, counted once.
    const cancelled = (await (
      await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key })
    ).json()) as Record<string, number>;
    expect(cancelled.failed_requests + cancelled.success_requests + cancelled.timeout_requests).toBe(N);
  }, 120_000);

  it("creates the jobs of a run cancelled mid-creation as cancelled, each after the cancel's instant", async () => {
    const { key } = await newTenant();
    const col = await bigCollection(key);
    const run = await startRun(key, col.id);
    const stub = env.RUNS.get(env.RUNS.idFromName(run.run_id));
    const res = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key });
    const cancelled = (await res.json()) as { completed_at: string; failed_requests: number; status: string };
    expect(cancelled).toMatchObject({ status: "cancelled", failed_requests: N });
    const created = () =>
      runInDurableObject(
        stub,
        (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT created_jobs AS n FROM run").one().n,
      );
    const before = await created();
    expect(before).toBeLessThan(N);
    for (let i = 0; i < 20 && (await created()) < N; i++) await runDurableObjectAlarm(stub);
    // A client streaming completions from the cancel's instant sees every job created after it.
    const after = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql
        .exec<{ n: number; cancelled: number }>(
          "SELECT count(*) AS n, sum(error = 'cancelled') AS cancelled FROM jobs WHERE completed_ms > ?",
          Date.parse(cancelled.completed_at),
        )
        .one(),
    );
    expect(after).toEqual({ n: N - before, cancelled: N - before });
    const page = await api(
      `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?order_by=completed_at&limit=5` +
        `&since_completed_at=${encodeURIComponent(cancelled.completed_at)}`,
      { key },
    );
    expect(((await page.json()) as { items: { error: string }[] }).items.map((j) => j.error)).toEqual(
      Array(5).fill("cancelled"),
    );
    // Counted once, at the cancel: the run's counters did not move.
    const now = (await (await api(`/v1/async/collections/${col.id}/runs/${run.run_id}`, { key })).json()) as {
      failed_requests: number;
    };
    expect(now.failed_requests).toBe(N);
  }, 120_000);
});
