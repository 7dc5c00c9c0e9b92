/**
 * API.md "Request options": headers, cookies and user agent in both modes, reaching the request's
 * own host on every hop and no other host (the second host, 127.0.0.3, records what it got); the
 * browser's device, wait condition and blocked resource types; and the validation of each.
 */
import { describe, expect, it } from "vitest";
import {
  allJobs,
  api,
  createCollection,
  newTenant,
  second,
  startRun,
  target,
  type JobView,
  waitForRun,
} from "./support/api";

/** Browser runs get minutes, not the usual 45 s: the machine running the suite may be shared and loaded. */
const SLOW = 180_000;

async function runToCompletion(key: string, requests: unknown[]) {
  const col = await createCollection(key, requests);
  const started = await startRun(key, col.id);
  const run = await waitForRun(key, col.id, started.run_id, SLOW - 20_000);
  return { run, jobs: await allJobs(key, col.id, started.run_id) };
}

type Hit = { host: string; path: string; headers: Record<string, string | undefined> };

/** What the target site's hosts received for `key`, in order. */
async function hits(key: string): Promise<Hit[]> {
  return (await (await fetch(target(`/options/hits?key=${key}`))).json()) as Hit[];
}

const enc = encodeURIComponent;
const hostOf = (origin: string) => new URL(origin).host;
const FIRST = () => hostOf(target("/"));
const SECOND = () => hostOf(second("/"));

/** first host → first host → second host, each hop recorded under `key`. */
const chain = (key: string) =>
  target(
    `/options/echo?key=${key}&next=${enc(target(`/options/echo?key=${key}&next=${enc(second(`/options/echo?key=${key}`))}`))}`,
  );

const OPTIONS = {
  headers: { "X-Api-Key": "s3cret", "Accept-Language": "de-DE" },
  cookies: [
    { name: "session", value: "abc" },
    { name: "scoped", value: "1", path: "/options" },
    { name: "elsewhere", value: "2", path: "/other" },
  ],
  user_agent: "OptionsTest/1.0 (+https://example.com/bot)",
};

async function result(key: string, job: JobView, collectionId: string, runId: string) {
  const res = await api(`/v1/async/collections/${collectionId}/runs/${runId}/jobs/${job.job_id}/result`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as { html: string };
}

describe("headers, cookies and user agent", () => {
  it("fetch mode: every hop on the request's host gets them, a redirect to another host gets none", async () => {
    const { key } = await newTenant();
    const k = crypto.randomUUID();
    const plain = crypto.randomUUID();
    const { jobs } = await runToCompletion(key, [
      { url: chain(k), ...OPTIONS },
      { url: target(`/options/echo?key=${plain}`) },
    ]);
    expect(jobs.map((j) => j.status)).toEqual(["completed", "completed"]);
    const seen = await hits(k);
    expect(seen.map((h) => h.host)).toEqual([FIRST(), FIRST(), SECOND()]);
    for (const h of seen.slice(0, 2)) {
      expect(h.headers).toMatchObject({
        "x-api-key": "s3cret",
        "accept-language": "de-DE",
        "user-agent": OPTIONS.user_agent,
        // Longest path first; the cookie for /other does not match /options/echo.
        cookie: "scoped=1; session=abc",
      });
    }
    const other = seen[2].headers;
    expect(other["x-api-key"]).toBeUndefined();
    expect(other.cookie).toBeUndefined();
    expect(other["user-agent"]).toMatch(/Chrome\//);
    expect(other["accept-language"]).toBe("en-US,en;q=0.9");
    // Without options, the defaults.
    const [d] = await hits(plain);
    expect(d.headers["user-agent"]).toMatch(/Chrome\//);
    expect(d.headers.cookie).toBeUndefined();
  });

  it(
    "browser mode: the page's requests to its host get them; a redirect or a subresource to another host gets none",
    async () => {
      const { key } = await newTenant();
      const k = crypto.randomUUID();
      const sub = crypto.randomUUID();
      const framed = crypto.randomUUID();
      const frame = target(`/options/echo?key=${framed}&sub=${enc(target(`/options/pixel.png?key=${framed}`))}`);
      const page = target(
        `/options/echo?key=${sub}&sub=${enc(target(`/options/pixel.png?key=${sub}`))}` +
          `&sub=${enc(second(`/options/pixel.png?key=${sub}`))}&frame=${enc(frame)}`,
      );
      const { run, jobs } = await runToCompletion(key, [
        { custom_id: "chain", url: chain(k), browser: true, ...OPTIONS },
        { custom_id: "sub", url: page, browser: true, ...OPTIONS },
      ]);
      const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
      expect(jobs.map((j) => [j.custom_id, j.status, j.error])).toEqual([
        ["chain", "completed", null],
        ["sub", "completed", null],
      ]);

      const redirects = (await hits(k)).filter((h) => h.path === "/options/echo");
      expect(redirects.map((h) => h.host)).toEqual([FIRST(), FIRST(), SECOND()]);
      for (const h of redirects.slice(0, 2)) {
        expect(h.headers).toMatchObject({ "x-api-key": "s3cret", "accept-language": "de-DE" });
        expect(h.headers.cookie).toMatch(/^scoped=1; session=abc$|^session=abc; scoped=1$/);
        expect(h.headers["user-agent"]).toBe(OPTIONS.user_agent);
      }
      expect(redirects[2].headers["x-api-key"]).toBeUndefined();
      expect(redirects[2].headers.cookie).toBeUndefined();

      const loaded = await hits(sub);
      const pixel = (host: string) => loaded.find((h) => h.path === "/options/pixel.png" && h.host === host);
      expect(pixel(FIRST())?.headers).toMatchObject({
        "x-api-key": "s3cret",
        cookie: expect.stringContaining("session=abc"),
      });
      // The cross-origin image was loaded (so the page did ask for it), without the page's secrets.
      expect(pixel(SECOND())).toBeDefined();
      expect(pixel(SECOND())?.headers["x-api-key"]).toBeUndefined();
      expect(pixel(SECOND())?.headers.cookie).toBeUndefined();
      // A frame of the page on its host: the frame's document and its image carry them too.
      const inFrame = await hits(framed);
      expect(inFrame.map((h) => [h.path, h.headers["x-api-key"]])).toEqual([
        ["/options/echo", "s3cret"],
        ["/options/pixel.png", "s3cret"],
      ]);
      const { html } = await result(key, by("sub"), run.collection_id, run.run_id);
      expect(html).toContain(`<p id="ua">${OPTIONS.user_agent.replace("&", "&amp;")}</p>`);
    },
    SLOW,
  );
});

describe("browser device, wait_until and block_resources", () => {
  const png = async (key: string, collectionId: string, runId: string, job: JobView) => {
    const res = await api(`/v1/async/collections/${collectionId}/runs/${runId}/jobs/${job.job_id}/screenshot`, { key });
    expect(res.status).toBe(200);
    const dv = new DataView(await res.arrayBuffer());
    return [dv.getUint32(16), dv.getUint32(20)];
  };

  it(
    "renders mobile at 390×844 ×3 with a mobile user agent, desktop at 1280×800 by default",
    async () => {
      const { key } = await newTenant();
      const m = crypto.randomUUID();
      const d = crypto.randomUUID();
      const u = crypto.randomUUID();
      const { run, jobs } = await runToCompletion(key, [
        {
          custom_id: "mobile",
          url: target(`/options/echo?key=${m}`),
          browser: true,
          device: "mobile",
          screenshot: true,
        },
        { custom_id: "desktop", url: target(`/options/echo?key=${d}`), browser: true, screenshot: true },
        {
          custom_id: "mobile-ua",
          url: target(`/options/echo?key=${u}`),
          browser: true,
          device: "mobile",
          user_agent: "MyPhone/2",
        },
      ]);
      const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
      for (const j of jobs) expect([j.custom_id, j.status, j.error]).toEqual([j.custom_id, "completed", null]);
      const page = async (id: string) => (await result(key, by(id), run.collection_id, run.run_id)).html;

      expect(await png(key, run.collection_id, run.run_id, by("mobile"))).toEqual([390 * 3, 844 * 3]);
      expect(await page("mobile")).toContain('<p id="vw">390x844@3</p>');
      expect(await page("mobile")).toMatch(/<p id="ua">Mozilla\/5\.0 \(iPhone;[^<]*Mobile[^<]*<\/p>/);
      expect((await hits(m))[0].headers["user-agent"]).toMatch(/iPhone/);

      expect(await png(key, run.collection_id, run.run_id, by("desktop"))).toEqual([1280, 800]);
      expect(await page("desktop")).toContain('<p id="vw">1280x800@1</p>');
      expect((await hits(d))[0].headers["user-agent"]).toMatch(/Windows NT[^)]*\).*Chrome\//);

      expect(await page("mobile-ua")).toContain('<p id="ua">MyPhone/2</p>');
      expect(await page("mobile-ua")).toContain('<p id="vw">390x844@3</p>');
    },
    SLOW,
  );

  it(
    "block_resources: blocked types are never requested; the others still are",
    async () => {
      const { key } = await newTenant();
      const [none, images, styles] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      const page = (k: string) => target(`/options/images?key=${k}&n=3&frame`);
      const { jobs } = await runToCompletion(key, [
        { url: page(none), browser: true },
        { url: page(images), browser: true, block_resources: ["image"] },
        { url: page(styles), browser: true, block_resources: ["stylesheet", "font"] },
      ]);
      for (const j of jobs) expect([j.status, j.error]).toEqual(["completed", null]);
      const count = async (k: string) => {
        const seen = await hits(k);
        const n = (path: string) => seen.filter((h) => h.path === path).length;
        return { images: n("/options/pixel.png"), css: n("/options/style.css"), fonts: n("/options/font.woff2") };
      };
      // The page's and its frame's: 3 + 2 images, a stylesheet and a font each.
      expect(await count(none)).toEqual({ images: 5, css: 2, fonts: 2 });
      expect(await count(images)).toEqual({ images: 0, css: 2, fonts: 2 });
      expect(await count(styles)).toEqual({ images: 5, css: 0, fonts: 0 });
    },
    SLOW,
  );

  it(
    "wait_until decides when navigation is done: domcontentloaded, load, networkidle0",
    async () => {
      const { key } = await newTenant();
      const { run, jobs } = await runToCompletion(key, [
        // Its image never arrives, so "load" never fires.
        {
          custom_id: "dcl",
          url: target("/never-loads"),
          browser: true,
          wait_until: "domcontentloaded",
          timeout: 30_000,
        },
        { custom_id: "load", url: target("/never-loads"), browser: true, timeout: 8_000 },
        // Fetches a 3 s resource once loaded: only network idleness waits for it.
        { custom_id: "idle", url: target("/options/after-load"), browser: true, wait_until: "networkidle0" },
        { custom_id: "loaded", url: target("/options/after-load"), browser: true, wait_until: "load" },
      ]);
      const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
      const page = async (id: string) => (await result(key, by(id), run.collection_id, run.run_id)).html;
      expect(by("dcl")).toMatchObject({ status: "completed", error: null });
      expect(await page("dcl")).toContain("<h1>Almost</h1>");
      expect(by("load")).toMatchObject({ status: "timeout" });
      expect(by("idle")).toMatchObject({ status: "completed", error: null });
      expect(await page("idle")).toContain('<p id="late">fetched after load</p>');
      expect(by("loaded")).toMatchObject({ status: "completed", error: null });
      expect(await page("loaded")).toContain('<p id="late">waiting</p>');
    },
    SLOW,
  );
});

describe("request option validation", () => {
  const create = (key: string, requests: unknown[]) =>
    api("/v1/async/collections", { method: "POST", key, json: { name: "n", requests } });

  it("refuses each bad option with a 422 naming its path, and creates nothing", async () => {
    const { key } = await newTenant();
    const url = target("/ok");
    const shop = "https://shop.example.com/cart";
    const manyHeaders = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`X-H${i}`, "v"]));
    const manyCookies = Array.from({ length: 51 }, (_, i) => ({ name: `c${i}`, value: "v" }));
    const bad: [Record<string, unknown>, string][] = [
      ...[
        "Host",
        "Content-Length",
        "Connection",
        "Transfer-Encoding",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "Cookie",
        "User-Agent",
      ].map((h): [Record<string, unknown>, string] => [{ url, headers: { [h]: "x" } }, `requests[0].headers.${h}`]),
      [{ url, headers: { "Bad Name": "x" } }, "requests[0].headers.Bad Name"],
      [{ url, headers: { "X-A": "a\r\nX-B: b" } }, "requests[0].headers.X-A"],
      [{ url, headers: { "X-A": "a\nb" } }, "requests[0].headers.X-A"],
      [{ url, headers: { "X-A": "a\u0000" } }, "requests[0].headers.X-A"],
      [{ url, headers: { "X-A": "1", "x-a": "2" } }, "requests[0].headers.x-a"],
      [{ url, headers: manyHeaders }, "requests[0].headers"],
      [{ url, headers: { "X-Big": "a".repeat(16 * 1024) } }, "requests[0].headers"],
      [{ url, headers: { "X-A": 1 } }, "requests[0].headers.X-A"],
      [{ url, cookies: [{ name: "a", value: "b", domain: "example.org" }] }, "requests[0].cookies[0].domain"],
      [{ url: shop, cookies: [{ name: "a", value: "b", domain: "com" }] }, "requests[0].cookies[0].domain"],
      [{ url: shop, cookies: [{ name: "a", value: "b", domain: "www.example.com" }] }, "requests[0].cookies[0].domain"],
      [{ url: shop, cookies: [{ name: "a", value: "b", domain: "example.com." }] }, "requests[0].cookies[0].domain"],
      [{ url, cookies: [{ name: "a b", value: "c" }] }, "requests[0].cookies[0].name"],
      [{ url, cookies: [{ name: "a", value: "b;c" }] }, "requests[0].cookies[0].value"],
      [{ url, cookies: [{ name: "a", value: "b c" }] }, "requests[0].cookies[0].value"],
      [{ url, cookies: [{ name: "a", value: "b", path: "nope" }] }, "requests[0].cookies[0].path"],
      [{ url, cookies: [{ name: "a", value: "b", secure: true }] }, "requests[0].cookies[0]"],
      [
        {
          url,
          cookies: [
            { name: "a", value: "b" },
            { name: "a", value: "c" },
          ],
        },
        "requests[0].cookies[1]",
      ],
      [{ url, cookies: manyCookies }, "requests[0].cookies"],
      // 30 valid cookies of 3 KB: within the cookie limits, past the 64 KB a request may take.
      [{ url, cookies: manyCookies.slice(0, 30).map((c) => ({ ...c, value: "v".repeat(3_000) })) }, "requests[0]"],
      [{ url, user_agent: "" }, "requests[0].user_agent"],
      [{ url, user_agent: "x".repeat(513) }, "requests[0].user_agent"],
      [{ url, user_agent: "a\nb" }, "requests[0].user_agent"],
      [{ url, device: "mobile" }, "requests[0].device"],
      [{ url, wait_until: "domcontentloaded" }, "requests[0].wait_until"],
      [{ url, block_resources: ["image"] }, "requests[0].block_resources"],
      [{ url, browser: true, device: "tablet" }, "requests[0].device"],
      [{ url, browser: true, wait_until: "idle" }, "requests[0].wait_until"],
      [{ url, browser: true, block_resources: ["script"] }, "requests[0].block_resources[0]"],
      [{ url, browser: true, block_resources: ["image", "image"] }, "requests[0].block_resources"],
    ];
    for (const [request, path] of bad) {
      const res = await create(key, [request]);
      const body = (await res.json()) as { errors?: { path: string }[] };
      expect({ request, status: res.status, paths: body.errors?.map((e) => e.path) }).toEqual({
        request,
        status: 422,
        paths: expect.arrayContaining([path]),
      });
    }
    const list = (await (await api("/v1/async/collections", { key })).json()) as { total: number };
    expect(list.total).toBe(0);
  });

  it("keeps valid options as given and shows the browser defaults", async () => {
    const { key } = await newTenant();
    const withAll = {
      url: "https://shop.example.com/cart",
      browser: true,
      headers: { Authorization: "Bearer t", "X-Trace": "1" },
      cookies: [{ name: "sid", value: '"q"', domain: ".Example.com", path: "/cart" }],
      user_agent: "UA/1",
      device: "mobile",
      wait_until: "networkidle2",
      block_resources: ["image", "font", "media", "stylesheet"],
    };
    const res = await create(key, [withAll, { url: "https://shop.example.com/plain" }]);
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const col = (await (await api(`/v1/async/collections/${id}`, { key })).json()) as {
      requests: Record<string, unknown>[];
    };
    expect(col.requests[0]).toMatchObject({ ...withAll });
    expect(col.requests[1]).toMatchObject({ device: "desktop", wait_until: "load", block_resources: [] });
    expect(col.requests[1].headers).toBeUndefined();
    expect(col.requests[1].cookies).toBeUndefined();
  });
});
