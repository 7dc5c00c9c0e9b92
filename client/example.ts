/**
 * The README's client example, kept here so `npm run check` typechecks it against the generated types
 * (test/node/dx.test.ts runs the same calls against a Worker).
 */
import { createClient } from "./index";

const api = createClient({
  baseUrl: process.env.SCRAPE_API_URL ?? "http://127.0.0.1:8787",
  apiKey: process.env.SCRAPE_API_KEY ?? "dev-key",
});
const col = await api.createCollection({ name: "docs", requests: [{ url: "www.example.com" }] });
const run = await api.startRun(col.id, { idempotencyKey: crypto.randomUUID() });
for await (const job of api.iterateJobs(col.id, run.run_id)) {
  if (job.status === "completed") console.log(await api.getResult(col.id, run.run_id, job.job_id, "markdown"));
}
const done = await api.waitForRun(col.id, run.run_id, { onProgress: (r) => console.log(r.success_requests) });
console.log(done.status, (await api.api.GET("/v1/health")).data?.status);
