/**
 * The seed flow end to end, as the seed's python snippets do it: create with an Idempotency-Key
 * and retry it, run, poll until completed, reattach through runs?status_filter=in_progress, page
 * through the jobs in 3+ pages, fetch results.
 */
import { describe, expect, it } from "vitest";
import { allJobs, api, newTenant, target, waitForRun, type JobView, type RunSummary } from "./support/api";

describe("the seed's asynchronous workflow", () => {
  it("creates, runs, polls, reattaches, pages and fetches results", async () => {
    const { key } = await newTenant();
    const requests = Array.from({ length: 20 }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `page-${i}` }));
    const idem = crypto.randomUUID();

    // 1. Create with an Idempotency-Key; a retry with the same key and body replays it.
    const first = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "daily", requests },
      headers: { "idempotency-key": idem },
    });
    expect(first.status).toBe(201);
    const created = (await first.json()) as {
      id: string;
      name: string;
      message: string;
      total_requests: number;
      duplicates_skipped: number;
    };
    expect(created).toMatchObject({
      name: "daily",
      message: "Collection created successfully.",
      total_requests: 20,
      duplicates_skipped: 0,
    });
    const retry = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "daily", requests },
      headers: { "idempotency-key": idem },
    });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(created);
    const listed = (await (await api("/v1/async/collections", { key })).json()) as {
      total: number;
      items: { id: string }[];
    };
    expect(listed.total).toBe(1);

    // 2. Start a run: 201, in_progress, zero counters.
    const runRes = await api(`/v1/async/collections/${created.id}/run`, { method: "POST", key });
    expect(runRes.status).toBe(201);
    const run = (await runRes.json()) as RunSummary;
    expect(run).toMatchObject({
      status: "in_progress",
      total_requests: 20,
      success_requests: 0,
      failed_requests: 0,
      timeout_requests: 0,
      collection_id: created.id,
    });

    // Reattach: the lost-response path of the seed finds the same run.
    const live = (await (
      await api(`/v1/async/collections/${created.id}/runs?status_filter=in_progress`, { key })
    ).json()) as { total: number; items: RunSummary[] };
    if (live.total > 0) expect(live.items[0].run_id).toBe(run.run_id);

    // 3-4. Poll until completed; the invariant holds.
    const done = await waitForRun(key, created.id, run.run_id);
    expect(done.status).toBe("completed");
    expect(done.success_requests).toBe(20);
    expect(done.success_requests + done.failed_requests + done.timeout_requests).toBe(done.total_requests);
    expect(done.completed_at).not.toBeNull();
    const afterwards = (await (
      await api(`/v1/async/collections/${created.id}/runs?status_filter=in_progress`, { key })
    ).json()) as { total: number };
    expect(afterwards.total).toBe(0);
    const all = (await (
      await api(`/v1/async/collections/${created.id}/runs?status_filter=completed,in_progress`, { key })
    ).json()) as { total: number; items: RunSummary[] };
    expect(all.items.map((r) => r.run_id)).toEqual([run.run_id]);
    expect(all.items[0]).toMatchObject({ success_requests: 20, status: "completed" });

    // Page through the jobs as the seed does, 7 at a time: 3 pages, none missing or repeated.
    const seen: JobView[] = [];
    let cursor: string | null = null;
    let pages = 0;
    for (;;) {
      const q = new URLSearchParams({
        limit: "7",
        order_by: "completed_at",
        status_filter: "completed,failed,timeout",
      });
      if (cursor) q.set("cursor", cursor);
      const page = (await (
        await api(`/v1/async/collections/${created.id}/runs/${run.run_id}/jobs?${q}`, { key })
      ).json()) as {
        items: JobView[];
        has_more: boolean;
        cursor_next: string | null;
      };
      pages++;
      seen.push(...page.items);
      if (!page.has_more) break;
      cursor = page.cursor_next;
    }
    expect(pages).toBe(3);
    expect(new Set(seen.map((j) => j.job_id)).size).toBe(20);
    expect(new Set(seen.map((j) => j.custom_id))).toEqual(new Set(requests.map((r) => r.custom_id)));
    const completedAts = seen.map((j) => j.completed_at!);
    expect([...completedAts].sort()).toEqual(completedAts);

    // Results: JSON with html, and the raw HTML.
    const job = seen.find((j) => j.custom_id === "page-3")!;
    expect(job).toMatchObject({
      status: "completed",
      status_code: 200,
      url: target("/page/3"),
      result_available: true,
      attempts: 1,
    });
    expect(job.timings.total_ms).toBeGreaterThanOrEqual(0);
    const result = (await (
      await api(`/v1/async/collections/${created.id}/runs/${run.run_id}/jobs/${job.job_id}/result`, { key })
    ).json()) as { html: string; custom_id: string };
    expect(result.custom_id).toBe("page-3");
    expect(result.html).toContain("<h1>Page 3</h1>");
    const raw = await api(`/v1/async/collections/${created.id}/runs/${run.run_id}/jobs/${job.job_id}/result`, {
      key,
      headers: { accept: "text/html" },
    });
    expect(raw.headers.get("content-type")).toContain("text/html");
    expect(raw.headers.get("content-security-policy")).toBe("sandbox");
    expect(await raw.text()).toContain("<h1>Page 3</h1>");
    const raw2 = await api(
      `/v1/async/collections/${created.id}/runs/${run.run_id}/jobs/${job.job_id}/result?format=html`,
      { key },
    );
    expect(await raw2.text()).toContain("<h1>Page 3</h1>");
  });

  it("streams completions with since_completed_at without re-reading the run", async () => {
    const { key } = await newTenant();
    const requests = Array.from({ length: 12 }, (_, i) => ({
      url: target(`/slow/${50 * (i % 4)}`),
      custom_id: `s${i}`,
    }));
    const col = (await (
      await api("/v1/async/collections", { method: "POST", key, json: { name: "stream", requests } })
    ).json()) as { id: string };
    const run = (await (
      await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key })
    ).json()) as RunSummary;
    const seen = new Map<string, string>();
    let since: string | null = null;
    const until = Date.now() + 30_000;
    while (seen.size < 12 && Date.now() < until) {
      const q = new URLSearchParams({
        order_by: "completed_at",
        limit: "500",
        status_filter: "completed,failed,timeout",
      });
      if (since) q.set("since_completed_at", since);
      const page = (await (
        await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs?${q}`, { key })
      ).json()) as { items: JobView[] };
      for (const j of page.items) {
        expect(seen.has(j.job_id)).toBe(false);
        seen.set(j.job_id, j.completed_at!);
        since = j.completed_at;
      }
      await new Promise((r) => setTimeout(r, 30));
    }
    expect(seen.size).toBe(12);
    const done = await waitForRun(key, col.id, run.run_id);
    expect(done.success_requests).toBe(12);
  });

  it("orders jobs by created_at in submission order", async () => {
    const { key } = await newTenant();
    const requests = Array.from({ length: 5 }, (_, i) => ({ url: target(`/page/${i}`), custom_id: `c${i}` }));
    const col = (await (
      await api("/v1/async/collections", { method: "POST", key, json: { name: "order", requests } })
    ).json()) as { id: string };
    const run = (await (
      await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key })
    ).json()) as RunSummary;
    const jobs = await allJobs(key, col.id, run.run_id, "limit=2");
    expect(jobs.map((j) => j.custom_id)).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    await waitForRun(key, col.id, run.run_id);
  });
});
