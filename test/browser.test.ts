/**
 * Browser jobs through Browser Rendering with real Chromium (locally miniflare launches it; see
 * scripts/local-browser.mjs), against pages of the local target site made for each action.
 */
import { describe, expect, it } from "vitest";
import { api, newTenant, runToCompletion, target, type JobView } from "./support/api";

async function result(key: string, collectionId: string, runId: string, job: JobView) {
  const res = await api(`/v1/async/collections/${collectionId}/runs/${runId}/jobs/${job.job_id}/result`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    html: string;
    status_code: number;
    evaluate_results?: unknown[];
    error: string | null;
  };
}

describe("browser jobs", () => {
  it("renders JavaScript with browser: true and not without; runs every action type", async () => {
    const { key } = await newTenant();
    const requests = [
      { custom_id: "fetch-js", url: target("/js") },
      {
        custom_id: "browser-js",
        url: target("/js"),
        browser: true,
        actions: [
          { type: "wait-for-selector", selector: "#app", timeout: 2000 },
          { type: "wait-for-timeout", time: 200 },
        ],
      },
      { custom_id: "click", url: target("/click"), browser: true, actions: [{ type: "click", selector: "#reveal" }] },
      {
        custom_id: "form",
        url: target("/form"),
        browser: true,
        actions: [
          { type: "fill", selector: "#q", value: "edge scraping" },
          { type: "press", key: "Enter" },
          { type: "wait-for-navigation", timeout: 5000 },
          { type: "wait-for-selector", selector: "#result" },
        ],
      },
      { custom_id: "scroll", url: target("/scroll"), browser: true, actions: [{ type: "scroll", amount: "bottom" }] },
      {
        custom_id: "late",
        url: target("/late"),
        browser: true,
        actions: [{ type: "wait-for-selector", selector: "#late", timeout: 5000 }],
      },
      {
        custom_id: "evaluate",
        url: target("/evaluate"),
        browser: true,
        actions: [
          { type: "evaluate", script: "Array.from(document.querySelectorAll('li')).map(li => li.textContent)" },
          { type: "evaluate", script: "const n = document.title; return n + '!'" },
        ],
      },
      {
        custom_id: "nav",
        url: target("/nav"),
        browser: true,
        actions: [
          { type: "click", selector: "#next" },
          { type: "wait-for-navigation", timeout: 5000 },
        ],
      },
      {
        custom_id: "scroll-px",
        url: target("/scroll"),
        browser: true,
        actions: [
          { type: "scroll", direction: "down", amount: 400 },
          { type: "evaluate", script: "window.scrollY" },
        ],
      },
    ];
    const { run, jobs } = await runToCompletion(key, requests);
    const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
    for (const j of jobs)
      expect({ id: j.custom_id, status: j.status, error: j.error }).toEqual({
        id: j.custom_id,
        status: "completed",
        error: null,
      });
    expect(run.success_requests).toBe(requests.length);

    // The script's source holds the text too: look at the element, not the page.
    expect((await result(key, run.collection_id, run.run_id, by("fetch-js"))).html).toContain(
      '<div id="app">Loading…</div>',
    );
    const rendered = await result(key, run.collection_id, run.run_id, by("browser-js"));
    expect(rendered.html).toContain('<div id="app">Rendered by JavaScript</div>');
    expect(rendered.status_code).toBe(200);
    expect(by("browser-js").timings.render_ms).toBeGreaterThanOrEqual(200);
    expect(by("browser-js").timings.fetch_ms).toBeGreaterThan(0);
    expect((await result(key, run.collection_id, run.run_id, by("click"))).html).toContain("Revealed by click");
    expect((await result(key, run.collection_id, run.run_id, by("form"))).html).toContain(
      "You searched for edge scraping",
    );
    const scrolled = (await result(key, run.collection_id, run.run_id, by("scroll"))).html;
    expect(scrolled.match(/class="item"/g)!.length).toBeGreaterThanOrEqual(30);
    expect((await result(key, run.collection_id, run.run_id, by("late"))).html).toContain("Arrived late");
    const ev = await result(key, run.collection_id, run.run_id, by("evaluate"));
    expect(ev.evaluate_results).toEqual([["a", "b", "c"], "Eval!"]);
    expect((await result(key, run.collection_id, run.run_id, by("nav"))).html).toContain("Arrived after navigation");
    expect((await result(key, run.collection_id, run.run_id, by("scroll-px"))).evaluate_results).toEqual([400]);
  });

  it("fails a failing action with its index and type, times out a page that never loads, and detects a JS-only block", async () => {
    const { key } = await newTenant();
    const { jobs } = await runToCompletion(key, [
      {
        custom_id: "missing",
        url: target("/click"),
        browser: true,
        actions: [
          { type: "wait-for-timeout", time: 10 },
          { type: "click", selector: "#nope" },
        ],
      },
      {
        custom_id: "selector-timeout",
        url: target("/click"),
        browser: true,
        actions: [{ type: "wait-for-selector", selector: "#never", timeout: 300 }],
      },
      { custom_id: "never-loads", url: target("/never-loads"), browser: true, timeout: 2000 },
      {
        custom_id: "long-wait",
        url: target("/ok"),
        browser: true,
        timeout: 1500,
        actions: [{ type: "wait-for-timeout", time: 5000 }],
      },
      {
        custom_id: "js-block",
        url: target("/js-block"),
        browser: true,
        actions: [{ type: "wait-for-timeout", time: 300 }],
      },
      { custom_id: "404", url: target("/status/404"), browser: true },
      { custom_id: "ssrf", url: target("/redirect-private"), browser: true },
      { custom_id: "huge", url: target("/huge-dom"), browser: true },
    ]);
    const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
    expect(by("missing")).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/^action 1 \(click\) failed/),
    });
    expect(by("selector-timeout")).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/^action 0 \(wait-for-selector\) failed/),
    });
    expect(by("never-loads")).toMatchObject({ status: "timeout" });
    expect(by("long-wait")).toMatchObject({ status: "timeout" });
    expect(by("js-block")).toMatchObject({ status: "failed", blocked_reason: "cloudflare_challenge" });
    expect(by("404")).toMatchObject({ status: "failed", status_code: 404 });
    // The browser's request interception applies the URL guard to redirects too.
    expect(by("ssrf")).toMatchObject({ status: "failed", error: expect.stringMatching(/link-local/) });
    expect(by("huge")).toMatchObject({ status: "failed", error: expect.stringMatching(/exceeds 10 MB/) });
  });

  it("stores a screenshot PNG of the right size, served as image/png", async () => {
    const { key } = await newTenant();
    const { run, jobs } = await runToCompletion(key, [
      { custom_id: "shot", url: target("/js"), browser: true, screenshot: true },
      { custom_id: "full", url: target("/scroll"), browser: true, screenshot: true, full_page: true },
      { custom_id: "none", url: target("/ok"), browser: true },
    ]);
    const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
    const png = async (j: JobView) =>
      api(`/v1/async/collections/${run.collection_id}/runs/${run.run_id}/jobs/${j.job_id}/screenshot`, { key });
    const res = await png(by("shot"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const dv = new DataView(bytes.buffer);
    expect([dv.getUint32(16), dv.getUint32(20)]).toEqual([1280, 800]);
    expect(by("shot").screenshot_available).toBe(true);
    const full = new DataView(await (await png(by("full"))).arrayBuffer());
    expect(full.getUint32(16)).toBe(1280);
    expect(full.getUint32(20)).toBeGreaterThan(800);
    expect(by("none").screenshot_available).toBe(false);
    expect((await png(by("none"))).status).toBe(404);
  });
});

describe("browser isolation and bounds", () => {
  const seen = async (key: string) => {
    const { run, jobs } = await runToCompletion(key, [{ url: target("/state"), browser: true }]);
    expect(jobs[0]).toMatchObject({ status: "completed", error: null });
    const { html } = await result(key, run.collection_id, run.run_id, jobs[0]);
    return /<div id="seen">([^<]*)<\/div>/.exec(html)![1];
  };

  it("gives every job a browser context of its own: nothing one sets reaches a later job, of any tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    // Each render sets a cookie and a localStorage value; every later one, in the same kept-alive
    // browser (the batches reconnect to it), must start without either.
    expect(await seen(a.key)).toBe("cookie=[] storage=[null]");
    expect(await seen(b.key)).toBe("cookie=[] storage=[null]");
    expect(await seen(a.key)).toBe("cookie=[] storage=[null]");
  });

  it("refuses the ways out that request interception misses: popups, WebSockets, WebRTC, workers", async () => {
    type Hits = { origin: string; requests: string[]; datagrams: number };
    const hits = async (reset = false) => {
      const res = await fetch(target(`/refused/hits${reset ? "?reset" : ""}`));
      return (await res.json()) as Hits;
    };
    // The counting server counts what reaches it (this probe), and the test starts it empty.
    const { origin } = await hits(true);
    expect((await fetch(`${origin}/probe`)).status).toBe(200);
    expect((await hits(true)).requests).toEqual(["GET /probe"]);

    const { key } = await newTenant();
    const waitFor = (k: string) => ({ type: "wait-for-selector", selector: `[data-k="${k}"]`, timeout: 10_000 });
    const { run, jobs } = await runToCompletion(key, [
      {
        url: target("/escape"),
        browser: true,
        actions: [
          ...["fetch", "worker-says", "shared-worker-says", "service-worker"].map(waitFor),
          { type: "click", selector: "#popup-refused" },
          { type: "click", selector: "#popup-allowed" },
          // Time for the popups (and anything else still trying) to reach the server.
          { type: "wait-for-timeout", time: 1500 },
        ],
      },
    ]);
    expect(await hits()).toMatchObject({ requests: [], datagrams: 0 });
    expect(jobs[0]).toMatchObject({ status: "completed", error: null });
    const { html } = await result(key, run.collection_id, run.run_id, jobs[0]);
    // What each attempt got, as the page saw it: the page's own scripts ran, and were refused.
    expect([...html.matchAll(/<li data-k="[^"]+">([^<]*)<\/li>/g)].map((m) => m[1]).sort()).toEqual([
      "fetch: failed",
      "iframe-websocket: threw SecurityError",
      "open: null",
      "rtc: threw SecurityError",
      "service-worker: refused SecurityError",
      "shared-worker-says: websocket threw SecurityError",
      "shared-worker: created",
      "websocket: threw SecurityError",
      "worker-says: fetch failed",
      "worker-says: websocket threw SecurityError",
      "worker: created",
    ]);
  });

  it("measures in the browser before taking: huge evaluate values, tall pages, long final_url and error", async () => {
    const { key } = await newTenant();
    const evaluate = (script: string) => ({ type: "evaluate", script });
    const { run, jobs } = await runToCompletion(key, [
      {
        custom_id: "evaluate",
        url: target("/ok"),
        browser: true,
        actions: [evaluate("'x'.repeat(1_000_000)"), evaluate("'y'.repeat(30_000_000)"), evaluate("1 + 1")],
      },
      { custom_id: "tall", url: target("/tall"), browser: true, screenshot: true, full_page: true },
      { custom_id: "long-url", url: target("/long-url"), browser: true },
      {
        custom_id: "long-error",
        url: target("/ok"),
        browser: true,
        actions: [evaluate("throw new Error('é'.repeat(100_000))")],
      },
      { custom_id: "fetch-long-url", url: target("/redirect-long") },
    ]);
    const by = (id: string) => jobs.find((j) => j.custom_id === id)! as JobView & { final_url: string | null };

    // Over the 64 KB budget, each value stays in the page and only its size comes back.
    expect((await result(key, run.collection_id, run.run_id, by("evaluate"))).evaluate_results).toEqual([
      { truncated: true, bytes: 1_000_002 },
      { truncated: true, bytes: 30_000_002 },
      2,
    ]);

    const shot = `/v1/async/collections/${run.collection_id}/runs/${run.run_id}/jobs/${by("tall").job_id}/screenshot`;
    const png = new DataView(await (await api(shot, { key })).arrayBuffer());
    expect([png.getUint32(16), png.getUint32(20)]).toEqual([1280, 16_384]);

    const bytes = (s: string | null) => new TextEncoder().encode(s ?? "").byteLength;
    const cut = /^http:\/\/127\.0\.0\.1:\d+\/(long-url\?a+|ok\?b+)… \[truncated from \d+ bytes\]$/;
    for (const id of ["long-url", "fetch-long-url"]) {
      expect(by(id).status).toBe("completed");
      expect(by(id).final_url).toMatch(cut);
      expect(bytes(by(id).final_url)).toBeLessThanOrEqual(8 * 1024);
    }
    const error = /^action 0 \(evaluate\) failed: .*é… \[truncated from \d+ bytes\]$/;
    expect(by("long-error")).toMatchObject({ status: "failed", error: expect.stringMatching(error) });
    expect(bytes(by("long-error").error)).toBeLessThanOrEqual(2 * 1024);
  });
});
