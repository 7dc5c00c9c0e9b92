/** One test per outcome kind of API.md, through the real queue consumer against the local target site. */
import { describe, expect, it } from "vitest";
import { api, newTenant, runToCompletion, target } from "./support/api";
import { BLOCK_PAGES } from "./support/target-site";

describe("job outcomes (fetch mode)", () => {
  it("classifies each kind of response exactly as API.md says", async () => {
    const { key } = await newTenant();
    interface Case {
      id: string;
      url: string;
      status: string;
      code?: number;
      error?: RegExp;
      timeout?: number;
      blocked?: string;
    }
    const cases: Case[] = [
      { id: "ok", url: target("/ok"), status: "completed", code: 200 },
      { id: "404", url: target("/status/404"), status: "failed", code: 404, error: /HTTP 404/ },
      { id: "500", url: target("/status/500"), status: "failed", code: 500, error: /HTTP 500/ },
      { id: "redirects", url: target("/redirect/5"), status: "completed", code: 200 },
      { id: "too-many-redirects", url: target("/redirect/11"), status: "failed", error: /more than 10 redirects/ },
      { id: "loop", url: target("/loop/a"), status: "failed", error: /redirect loop/ },
      { id: "hang", url: target("/hang"), status: "timeout", timeout: 1000, error: /timeout/ },
      { id: "article", url: target("/article"), status: "completed", code: 200 },
      { id: "latin1", url: target("/latin1"), status: "completed", code: 200 },
      { id: "too-big", url: target("/big"), status: "failed", error: /exceeds 10 MB/ },
      {
        id: "ssrf-redirect",
        url: target("/redirect-private"),
        status: "failed",
        error: /redirected to a refused target: link-local/,
      },
      ...Object.keys(BLOCK_PAGES).map((vendor) => ({
        id: vendor,
        url: target(`/block/${vendor}`),
        status: "failed",
        blocked: vendor,
      })),
    ];
    const { run, jobs } = await runToCompletion(
      key,
      cases.map((c) => ({ url: c.url, custom_id: c.id, ...(c.timeout ? { timeout: c.timeout } : {}) })),
    );
    expect(run.status).toBe("completed");
    for (const c of cases) {
      const j = jobs.find((x) => x.custom_id === c.id)!;
      expect({ id: c.id, status: j.status }).toEqual({ id: c.id, status: c.status });
      if (c.code) expect(j.status_code).toBe(c.code);
      if (c.error) expect(j.error).toMatch(c.error);
      expect(j.blocked_reason).toBe(c.blocked ?? null);
    }
    const success = cases.filter((c) => c.status === "completed").length;
    const timeouts = cases.filter((c) => c.status === "timeout").length;
    expect(run).toMatchObject({
      total_requests: cases.length,
      success_requests: success,
      timeout_requests: timeouts,
      failed_requests: cases.length - success - timeouts,
    });

    // The redirect chain ends at its final URL; a latin-1 page is decoded with its charset.
    const latin = jobs.find((j) => j.custom_id === "latin1")!;
    const body = (await (
      await api(`/v1/async/collections/${run.collection_id}/runs/${run.run_id}/jobs/${latin.job_id}/result`, { key })
    ).json()) as { html: string };
    expect(body.html).toContain("Café crème");
    const redirected = jobs.find((j) => j.custom_id === "redirects")!;
    const r = (await (
      await api(`/v1/async/collections/${run.collection_id}/runs/${run.run_id}/jobs/${redirected.job_id}/result`, {
        key,
      })
    ).json()) as { final_url: string };
    expect(r.final_url).toBe(target("/ok"));
  });

  it("retries a connection reset, then fails it with its attempts shown", async () => {
    const { key } = await newTenant();
    const { run, jobs } = await runToCompletion(key, [{ url: target("/reset"), custom_id: "reset" }]);
    expect(run.failed_requests).toBe(1);
    expect(jobs[0].status).toBe("failed");
    expect(jobs[0].error).toMatch(/network error.*after 3 attempts/);
    expect(jobs[0].attempts).toBe(3);
  });

  it("retries a 503 with Retry-After and succeeds on a later attempt", async () => {
    const { key } = await newTenant();
    const { run, jobs } = await runToCompletion(key, [
      { url: target(`/flaky?key=${crypto.randomUUID()}&fail=1`), custom_id: "flaky" },
    ]);
    expect(run.success_requests).toBe(1);
    expect(jobs[0]).toMatchObject({ status: "completed", status_code: 200, attempts: 2 });
  });

  it("normalises a URL without a scheme to https://", async () => {
    const { key } = await newTenant();
    const res = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: { name: "n", requests: [{ url: "www.example.com" }] },
    });
    const col = (await res.json()) as { id: string };
    const got = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as {
      requests: { url: string }[];
    };
    expect(got.requests[0].url).toBe("https://www.example.com/");
  });
});
