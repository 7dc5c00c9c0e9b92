/**
 * Sizes in bytes, checked where requests are accepted: a request too large for a queue message is
 * refused at create/replace with a 422 naming it, one at the cap runs to completion, and a job
 * whose message cannot be built (a row stored before the cap) fails alone with a clear error.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../src/config";
import { normalizeTargetUrl } from "../src/fetchers/url-guard";
import type { Action } from "../src/schemas";
import { requestBytes, utf8Bytes } from "../src/sizes";
import { allJobs, api, createCollection, newTenant, startRun, target, waitForRun } from "./support/api";

interface ProblemBody {
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
}

async function refused(res: Response): Promise<ProblemBody> {
  expect(res.status).toBe(422);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  return (await res.json()) as ProblemBody;
}

const listTotal = async (key: string) =>
  ((await (await api("/v1/async/collections", { key })).json()) as { total: number }).total;

/**
 * A browser request to /evaluate whose serialised form is exactly `bytes` bytes, padded with "é"
 * (2 bytes in UTF-8, 1 UTF-16 unit: counted by length it would look half its size). Two scripts, so
 * each stays under the per-script cap.
 */
function requestOfBytes(bytes: number, custom_id: string) {
  const url = target("/evaluate");
  const actions = (a: string, b: string): Action[] => [
    { type: "evaluate", script: `/*${a}*/ document.title` },
    { type: "evaluate", script: `/*${b}*/ document.querySelectorAll("li").length` },
  ];
  const size = (a: string, b: string) =>
    requestBytes({
      url: normalizeTargetUrl(url),
      custom_id,
      // The spec as stored: the result options' defaults travel with it.
      spec: {
        screenshot: false,
        full_page: false,
        actions: actions(a, b),
        timeout: 30_000,
        formats: ["html"],
        only_main_content: false,
      },
    });
  const room = bytes - size("", "");
  const pad = "é".repeat(Math.floor(room / 2)) + (room % 2 ? "x" : "");
  const [a, b] = [pad.slice(0, pad.length / 2), pad.slice(pad.length / 2)];
  expect(size(a, b)).toBe(bytes);
  return { url, browser: true, custom_id, actions: actions(a, b) };
}

describe("request size, checked where requests are accepted", () => {
  it("refuses two 80 KB evaluate scripts among 120 plain requests, 422 naming them; creates nothing", async () => {
    const { key } = await newTenant();
    const script = `/*${"x".repeat(80 * 1024)}*/ document.title`;
    const requests: unknown[] = Array.from({ length: 120 }, (_, i) => ({ url: target(`/page/${i}`) }));
    requests.splice(10, 0, { url: target("/evaluate"), browser: true, actions: [{ type: "evaluate", script }] });
    requests.splice(111, 0, { url: target("/evaluate"), browser: true, actions: [{ type: "evaluate", script }] });
    const body = await refused(
      await api("/v1/async/collections", { method: "POST", key, json: { name: "big", requests } }),
    );
    expect(body.errors?.map((e) => e.path)).toEqual([
      "requests[10].actions[0].script",
      "requests[111].actions[0].script",
    ]);
    expect(body.detail).toMatch(/requests\[10\]\.actions\[0\]\.script: at most 48 KB/);
    // The same scripts in a multi-byte alphabet: under 49,152 UTF-16 units, over 49,152 bytes.
    const wide = `/*${"é".repeat(40 * 1024)}*/ document.title`;
    expect(wide.length).toBeLessThan(LIMITS.maxScriptBytes);
    requests[10] = { url: target("/evaluate"), browser: true, actions: [{ type: "evaluate", script: wide }] };
    requests[111] = { url: target("/page/x") };
    const again = await refused(
      await api("/v1/async/collections", { method: "POST", key, json: { name: "wide", requests } }),
    );
    expect(again.errors?.map((e) => e.path)).toEqual(["requests[10].actions[0].script"]);
    expect(await listTotal(key)).toBe(0);
  });

  it("refuses a request over the cap as a whole, naming it, on create and on replace", async () => {
    const { key } = await newTenant();
    // Each script is under its own cap; together they pass the request's.
    const script = `/*${"漢".repeat(10 * 1024)}*/ 1`;
    const big = {
      url: target("/evaluate"),
      browser: true,
      actions: [1, 2, 3].map(() => ({ type: "evaluate", script })),
    };
    const small = { url: target("/ok") };
    const body = await refused(
      await api("/v1/async/collections", { method: "POST", key, json: { name: "n", requests: [small, big, small] } }),
    );
    expect(body.errors).toEqual([
      {
        path: "requests[1]",
        message: expect.stringMatching(
          /^9\d{4} bytes serialised as JSON \(UTF-8\); a request is at most 65536 bytes \(64 KB\)$/,
        ),
      },
    ]);
    expect(await listTotal(key)).toBe(0);

    const col = await createCollection(key, [small]);
    const put = await refused(
      await api(`/v1/async/collections/${col.id}`, { method: "PUT", key, json: { name: "renamed", requests: [big] } }),
    );
    expect(put.errors?.map((e) => e.path)).toEqual(["requests[0]"]);
    const got = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as {
      name: string;
      requests: { url: string }[];
    };
    expect(got).toMatchObject({ name: "c", requests: [{ url: target("/ok") }] });
  });

  it("accepts requests exactly at the cap and runs them to completion; one byte more is refused", async () => {
    const { key } = await newTenant();
    const over = requestOfBytes(LIMITS.maxRequestBytes + 1, "max-0");
    const body = await refused(
      await api("/v1/async/collections", { method: "POST", key, json: { name: "over", requests: [over] } }),
    );
    expect(body.errors?.[0]).toMatchObject({ path: "requests[0]", message: expect.stringMatching(/^65537 bytes/) });
    expect(await listTotal(key)).toBe(0);

    // Five messages of ~64 KB are ~330 KB in bytes but ~200,000 UTF-16 units: the producer must
    // split them over sendBatch calls by bytes.
    const requests = Array.from({ length: 5 }, (_, i) => requestOfBytes(LIMITS.maxRequestBytes, `max-${i}`));
    expect(requests.reduce((n, r) => n + JSON.stringify(r).length, 0)).toBeLessThan(250_000);
    expect(requests.reduce((n, r) => n + utf8Bytes(JSON.stringify(r)), 0)).toBeGreaterThan(300_000);
    const col = await createCollection(key, requests);
    const run = await waitForRun(key, col.id, (await startRun(key, col.id)).run_id, 90_000);
    expect(run).toMatchObject({ status: "completed", success_requests: 5, failed_requests: 0, timeout_requests: 0 });
    const [job] = await allJobs(key, col.id, run.run_id);
    const result = (await (
      await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs/${job.job_id}/result`, { key })
    ).json()) as {
      evaluate_results: unknown[];
    };
    expect(result.evaluate_results).toEqual(["Eval", 3]);
  });

  it("fails alone, with a clear error, a job whose message could not be built", async () => {
    const { key } = await newTenant();
    const col = await createCollection(key, [
      { url: target("/page/1") },
      { url: target("/evaluate"), browser: true },
      { url: target("/page/2") },
    ]);
    // A request stored before the cap: a 65,000-character script was valid then, and is 130 KB
    // in UTF-8, more than a queue message holds.
    const script = `/*${"é".repeat(65_000)}*/ 1`;
    const spec = JSON.stringify({
      screenshot: false,
      full_page: false,
      actions: [{ type: "evaluate", script }],
      timeout: 30_000,
    });
    await env.DB.prepare("UPDATE requests SET spec = ?1 WHERE collection_id = ?2 AND seq = 1").bind(spec, col.id).run();

    const started = await startRun(key, col.id);
    const run = await waitForRun(key, col.id, started.run_id);
    expect(run).toMatchObject({ status: "completed", success_requests: 2, failed_requests: 1, timeout_requests: 0 });
    const jobs = await allJobs(key, col.id, run.run_id);
    const failed = jobs.find((j) => j.status === "failed")!;
    expect(failed.url).toBe(target("/evaluate"));
    expect(failed.error).toMatch(
      /^the job could not be queued: its message is 130\d{3} bytes \(UTF-8\), over the 126976-byte limit$/,
    );
    expect(failed.attempts).toBe(0);
  });
});

describe("the documented limits", () => {
  it("states the request and script caps in the OpenAPI document", async () => {
    const doc = (await (await api("/v1/openapi.json")).json()) as {
      components: { schemas: Record<string, Record<string, unknown>> };
    };
    const { Request, Action, CreateCollection } = doc.components.schemas;
    expect(Request.description).toMatch(/at most 64 KB \(65536 bytes\) in UTF-8/);
    expect(JSON.stringify(CreateCollection)).toMatch(/at most 64 KB \(65536 bytes\) in UTF-8/);
    const evaluate = (Action.oneOf as { properties: { type: { enum: string[] }; script?: unknown } }[]).find(
      (a) => a.properties.type.enum[0] === "evaluate",
    );
    expect(evaluate?.properties.script).toMatchObject({
      maxLength: 49152,
      description: expect.stringMatching(/at most 48 KB \(49152 bytes\) in UTF-8/),
    });
  });
});
