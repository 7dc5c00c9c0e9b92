/** A page with no body is a result like any other: an empty html, never a 500. */
import { describe, expect, it } from "vitest";
import { api, newTenant, runToCompletion, target, type JobView } from "./support/api";

async function expectEmptyResult(key: string, colId: string, runId: string, job: JobView) {
  expect(job.status).toBe("completed");
  expect(job.result_available).toBe(true);
  const base = `/v1/async/collections/${colId}/runs/${runId}/jobs/${job.job_id}/result`;
  const json = await api(base, { key });
  expect(json.status, job.url).toBe(200);
  const body = (await json.json()) as { html: string | null; status_code: number };
  expect(body.html).toBe("");
  const html = await api(`${base}?format=html`, { key });
  expect(html.status, job.url).toBe(200);
  expect(html.headers.get("content-type")).toContain("text/html");
  expect(await html.text()).toBe("");
  return body.status_code;
}

describe("empty bodies", () => {
  it("serve an empty html for a 200 with no body and a 204, alone and next to other pages", async () => {
    const { key } = await newTenant();
    // Alone: every page of the flush is empty.
    for (const path of ["/empty", "/no-content"]) {
      const { col, run, jobs } = await runToCompletion(key, [{ url: target(path) }]);
      expect(run.status).toBe("completed");
      const code = await expectEmptyResult(key, col.id, run.run_id, jobs[0]);
      expect(code).toBe(path === "/empty" ? 200 : 204);
    }
    // Mixed: empty pages stored between pages with content.
    const mixed = [target("/page/1"), target("/empty"), target("/page/2"), target("/no-content"), target("/page/3")];
    const { col, run, jobs } = await runToCompletion(
      key,
      mixed.map((url) => ({ url })),
    );
    expect(jobs.length).toBe(5);
    for (const job of jobs) {
      if (/\/(empty|no-content)$/.test(job.url)) {
        await expectEmptyResult(key, col.id, run.run_id, job);
        continue;
      }
      const path = `/v1/async/collections/${col.id}/runs/${run.run_id}/jobs/${job.job_id}/result?format=html`;
      const res = await api(path, { key });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(`<h1>Page ${job.url.slice(-1)}</h1>`);
    }
  });
});
