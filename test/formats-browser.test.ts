/**
 * Result formats in browser mode are made from the DOM after the actions: content that exists only
 * once a click has run is extracted, converted and listed; the same page fetched has none of it.
 */
import { describe, expect, it } from "vitest";
import { api, runToCompletion, newTenant, target } from "./support/api";

describe("result formats (browser mode)", () => {
  it("extracts and converts what a click action revealed", async () => {
    const { key } = await newTenant();
    const options = {
      formats: ["markdown", "text", "links", "metadata"],
      extract: { secret: { selector: "#secret .v" }, button: { selector: "#reveal" } },
    };
    const { col, run, jobs } = await runToCompletion(key, [
      {
        custom_id: "browser",
        url: target("/formats/reveal"),
        browser: true,
        actions: [{ type: "click", selector: "#reveal" }],
        ...options,
      },
      { custom_id: "fetch", url: target("/formats/reveal"), ...options },
    ]);
    const [browser, fetched] = jobs;
    expect([browser.status, fetched.status]).toEqual(["completed", "completed"]);
    expect(browser.extracted).toEqual({ secret: "Shown after click", button: "Show" });
    expect(browser.metadata).toMatchObject({ title: "Reveal" });
    expect(fetched.extracted).toEqual({ secret: null, button: "Show" });

    const result = async (jobId: string, q = "") => {
      const res = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/jobs/${jobId}/result${q}`, { key });
      expect(res.status).toBe(200);
      return res;
    };
    const json = (await (await result(browser.job_id)).json()) as Record<string, string>;
    expect(json.markdown).toContain("Shown after click");
    expect(json.text).toContain("Shown after click");
    expect(json.extracted).toEqual(browser.extracted);
    expect(await (await result(browser.job_id, "?format=markdown")).text()).toContain("Shown after click");
    expect(await (await result(fetched.job_id, "?format=text")).text()).not.toContain("Shown after click");
  });
});
