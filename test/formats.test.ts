/**
 * Result formats end to end in fetch mode: what a request asks for is stored with it, made by the
 * consumer (metadata, extracted) or on read (markdown, text, links), and served as JSON or raw.
 */
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, runToCompletion, target, type JobView } from "./support/api";

const base = (colId: string, runId: string) => `/v1/async/collections/${colId}/runs/${runId}`;

describe("result formats (fetch mode)", () => {
  it("stores the options, shows them in the collection, and makes every format from the page", async () => {
    const { key } = await newTenant();
    const extract = {
      heading: { selector: "h1" },
      items: { selector: "li.item", all: true },
      link: { selector: "article a", attribute: "href" },
      missing: { selector: ".nope" },
    };
    const requests = [
      {
        custom_id: "all",
        url: target("/formats/doc"),
        formats: ["html", "markdown", "text", "links", "metadata"],
        extract,
      },
      { custom_id: "main", url: target("/formats/doc"), formats: ["markdown", "text"], only_main_content: true },
      {
        custom_id: "based",
        url: target("/formats/based"),
        formats: ["markdown", "links"],
        extract: { img: { selector: "img", attribute: "src" } },
      },
      { custom_id: "default", url: target("/formats/doc") },
    ];
    const { col, run, jobs } = await runToCompletion(key, requests);
    const stored = (await (await api(`/v1/async/collections/${col.id}`, { key })).json()) as {
      requests: Record<string, unknown>[];
    };
    expect(stored.requests[0]).toMatchObject({
      formats: requests[0].formats,
      only_main_content: false,
      extract: { items: { selector: "li.item", attribute: "text", all: true } },
    });
    expect(stored.requests[1]).toMatchObject({ formats: ["markdown", "text"], only_main_content: true });
    expect(stored.requests[3]).toMatchObject({ formats: ["html"], only_main_content: false });
    expect(stored.requests[3].extract).toBeUndefined();

    const by = (id: string) => jobs.find((j) => j.custom_id === id)!;
    for (const j of jobs) expect(j.status).toBe("completed");
    const result = async (j: JobView, query = "") => {
      const res = await api(`${base(col.id, run.run_id)}/jobs/${j.job_id}/result${query}`, { key });
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };

    const all = await result(by("all"));
    expect(all.html).toContain("<h1>Main Heading</h1>");
    const md = all.markdown as string;
    expect(md).toContain("# Main Heading");
    expect(md).toContain("**bold**");
    expect(md).toContain(`[a relative link](${target("/page/1")})`);
    expect(md).toContain("| k | v |");
    expect(md).toContain(`![Pic](${target("/formats/img/pic.png")})`);
    expect(md).toContain("Footer text");
    expect(md).not.toContain("never in markdown");
    expect(all.text).toContain("Main Heading");
    expect(all.text).not.toContain("**");
    const links = all.links as { url: string; text: string }[];
    expect(links.map((l) => l.url)).toEqual([
      target("/"),
      target("/formats/about"),
      target("/page/1"),
      "https://example.com/x",
      target("/formats/legal"),
    ]);
    expect(all.metadata).toEqual({
      title: "Formats Doc",
      description: "A page for result formats",
      language: "en",
      canonical_url: target("/formats/canonical"),
      favicon: target("/static/favicon.ico"),
      og: {
        title: "OG Formats",
        description: null,
        image: target("/static/og.png"),
        type: "article",
        site_name: "Target",
      },
    });
    expect(all.extracted).toEqual({
      heading: "Main Heading",
      items: ["Alpha", "Beta"],
      link: target("/page/1"),
      missing: null,
    });
    // The listing and the job carry what is kept with the job.
    expect(by("all").metadata).toEqual(all.metadata);
    expect(by("all").extracted).toEqual(all.extracted);
    expect(by("default")).not.toHaveProperty("metadata");
    expect(by("default")).not.toHaveProperty("extracted");

    const main = await result(by("main"));
    expect(Object.keys(main)).not.toContain("html");
    expect(main.markdown).toContain("# Main Heading");
    expect(main.markdown).not.toContain("Footer text");
    expect(main.text).not.toContain("Footer text");
    expect(main.text).not.toContain("About");

    const based = await result(by("based"));
    expect(based.markdown).toContain(`[Start](${target("/formats/docs/v2/guide/start")})`);
    expect(based.links).toEqual([{ url: target("/formats/docs/v2/guide/start"), text: "Start" }]);
    expect(based.extracted).toEqual({ img: target("/formats/docs/v2/img/logo.png") });

    const plain = await result(by("default"));
    expect(plain.html).toContain("Main Heading");
    for (const k of ["markdown", "text", "links", "metadata", "extracted"]) expect(plain).not.toHaveProperty(k);
  });

  it("answers raw formats with their content types, for any finished job", async () => {
    const { key } = await newTenant();
    const { col, run, jobs } = await runToCompletion(key, [{ url: target("/formats/doc"), only_main_content: true }]);
    const path = `${base(col.id, run.run_id)}/jobs/${jobs[0].job_id}/result`;
    const raw = async (query: string, accept?: string) => {
      const res = await api(`${path}${query}`, { key, headers: accept ? { accept } : {} });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      return { type: res.headers.get("content-type"), body: await res.text() };
    };
    const md = await raw("?format=markdown");
    expect(md.type).toBe("text/markdown; charset=utf-8");
    expect(md.body).toContain("# Main Heading");
    expect(md.body).not.toContain("Footer text");
    expect(await raw("", "text/markdown")).toEqual(md);
    const text = await raw("?format=text");
    expect(text.type).toBe("text/plain; charset=utf-8");
    expect(text.body).toContain("Main Heading");
    expect(text.body).not.toContain("# ");
    expect(await raw("", "text/plain")).toEqual(text);
    const html = await raw("?format=html");
    expect(html.type).toBe("text/html; charset=utf-8");
    expect(html.body).toContain("<footer>");
    // ?format wins over Accept.
    expect((await raw("?format=markdown", "text/html")).type).toBe("text/markdown; charset=utf-8");
    expect((await api(`${path}?format=pdf`, { key })).status).toBe(422);
  });

  it("refuses bad result options with 422 naming the field, and creates nothing", async () => {
    const { key } = await newTenant();
    const cases: [Record<string, unknown>, string][] = [
      [{ formats: ["html", "pdf"] }, "requests[0].formats[1]"],
      [{ formats: ["markdown", "markdown"] }, "requests[0].formats"],
      [{ only_main_content: "yes" }, "requests[0].only_main_content"],
      [{ extract: { t: { selector: "h1[" } } }, "requests[0].extract.t.selector"],
      [{ extract: { t: { selector: "a::before" } } }, "requests[0].extract.t.selector"],
      [{ extract: { t: { selector: "h1", extra: 1 } } }, "requests[0].extract.t"],
      [{ extract: { "bad name": { selector: "h1" } } }, "requests[0].extract.bad name"],
      [
        { extract: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`f${i}`, { selector: "p" }])) },
        "requests[0].extract",
      ],
      [{ extract: { t: { selector: `p${".c".repeat(300)}` } } }, "requests[0].extract.t.selector"],
      [
        { extract: { t: { selector: Array.from({ length: 33 }, () => "p").join(",") } } },
        "requests[0].extract.t.selector",
      ],
    ];
    for (const [extra, path] of cases) {
      const res = await api("/v1/async/collections", {
        method: "POST",
        key,
        json: { name: "x", requests: [{ url: target("/ok"), ...extra }] },
      });
      const body = (await res.json()) as { errors: { path: string }[] };
      expect({ extra, status: res.status, paths: body.errors?.map((e) => e.path) }).toEqual({
        extra,
        status: 422,
        paths: expect.arrayContaining([path]),
      });
    }
    // The request size cap covers the extract fields (with a script, as selectors are capped at 512 characters).
    const field = (i: number) => ({ selector: `p.${"x".repeat(500)}${i}`, attribute: `data-${"y".repeat(240)}` });
    const big = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, field(i)]));
    const script = { type: "evaluate", script: `1//${"s".repeat(30_000)}` };
    const res = await api("/v1/async/collections", {
      method: "POST",
      key,
      json: {
        name: "x",
        requests: [{ url: target(`/ok?${"q".repeat(6000)}`), browser: true, actions: [script], extract: big }],
      },
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: { path: string }[] }).errors[0].path).toBe("requests[0]");
    // Distinct extract names across the collection are capped (one CSV column each), at the name past the cap.
    const names = (from: number) =>
      Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`n${from + i}`, { selector: "p" }]));
    const wide = [names(0), names(50), { n0: { selector: "p" }, extra: { selector: "p" } }].map((extract, i) => ({
      url: target(`/ok?${i}`),
      extract,
    }));
    const tooWide = await api("/v1/async/collections", { method: "POST", key, json: { name: "x", requests: wide } });
    expect(tooWide.status).toBe(422);
    expect(((await tooWide.json()) as { errors: { path: string }[] }).errors[0].path).toBe("requests[2].extract.extra");
    const listed = (await (await api("/v1/async/collections", { key })).json()) as { total: number };
    expect(listed.total).toBe(0);
    // 100 distinct names are within it.
    await createCollection(key, wide.slice(0, 2));
    await createCollection(key, [
      { url: target("/ok"), extract: { t: { selector: "h1:contains('x')" } }, formats: [] },
    ]);
  });

  it("caps metadata and extracted at 64 KB per job and says so", async () => {
    const { key } = await newTenant();
    const { col, run, jobs } = await runToCompletion(key, [
      { url: target("/formats/many"), formats: ["metadata"], extract: { items: { selector: "li", all: true } } },
    ]);
    const [job] = jobs;
    expect(job.status).toBe("completed");
    expect(job.extract_truncated).toBe(true);
    expect(job.metadata?.title).toBe("Many");
    const items = job.extracted!.items as string[];
    expect(items.length).toBeGreaterThan(500);
    expect(items.length).toBeLessThan(2_000);
    expect(items[0]).toBe(`00000${"v".repeat(95)}`);
    const kept = new TextEncoder().encode(JSON.stringify({ metadata: job.metadata, extracted: job.extracted }));
    expect(kept.byteLength).toBeLessThanOrEqual(64 * 1024);
    const res = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs/${job.job_id}/result`, { key });
    expect(await res.json()).toMatchObject({ extract_truncated: true, extracted: { items } });
  });
});
