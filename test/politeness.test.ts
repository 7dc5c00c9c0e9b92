/**
 * Per-host politeness per tenant (API.md, "Request options and politeness"): jobs in flight to a
 * host over all of a tenant's runs, the delay between two requests to a host, and a host's
 * Retry-After slowing the whole tenant, all enforced where the run's object releases jobs. The
 * target site counts, per Host header, the requests in flight and when each started; the same
 * site on 127.0.0.3 is a second host.
 */
import { describe, expect, it } from "vitest";
import { allJobs, api, createCollection, newTenant, second, startRun, target, waitForRun } from "./support/api";

type HostSeen = {
  in_flight: number;
  max_in_flight: number;
  starts: number[];
  who: string[];
  ends: number[];
  statuses: number[];
};

const emptySeen: HostSeen = { in_flight: 0, max_in_flight: 0, starts: [], who: [], ends: [], statuses: [] };

/** Start instants of the requests labelled `who`. */
const startsOf = (h: HostSeen, who: string) => h.starts.filter((_, i) => h.who[i] === who);

/** What the target site saw for a test tag, per host (host:port). */
async function seen(tag: string): Promise<Record<string, HostSeen>> {
  const res = await fetch(target(`/polite/seen?tag=${tag}`));
  return (await res.json()) as Record<string, HostSeen>;
}

const hostOf = (url: string) => new URL(url).host;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const newTag = () => crypto.randomUUID().slice(0, 8);

async function createPolite(key: string, requests: unknown[], politeness?: unknown) {
  const res = await api("/v1/async/collections", {
    method: "POST",
    key,
    json: { name: "polite", requests, politeness },
  });
  const body = (await res.json()) as { id: string };
  expect(res.status).toBe(201);
  return body;
}

describe("per-host politeness", () => {
  it("keeps a slow host at per_host_concurrency while a second host of the same run finishes first", async () => {
    const { key } = await newTenant();
    const tag = newTag();
    // The slow host's pages come first in the list: a limit on the run instead of on each host
    // would run them all before the second host's.
    const slow = Array.from({ length: 60 }, (_, i) => ({ url: target(`/polite/page?tag=${tag}&ms=400&i=${i}`) }));
    const fast = Array.from({ length: 20 }, (_, i) => ({ url: second(`/polite/page?tag=${tag}&i=${i}`) }));
    const col = await createPolite(key, [...slow, ...fast], { per_host_concurrency: 2 });
    const t0 = Date.now();
    const run = await startRun(key, col.id);
    expect(run.politeness).toEqual({ per_host_concurrency: 2, per_host_delay_ms: 0 });
    const done = await waitForRun(key, col.id, run.run_id, 120_000);
    expect(done.success_requests).toBe(80);
    const hosts = await seen(tag);
    const s = hosts[hostOf(slow[0].url)];
    const f = hosts[hostOf(fast[0].url)];
    expect(s.starts).toHaveLength(60);
    expect(f.starts).toHaveLength(20);
    // At most two at once, and two (so the limit, not something slower, is what held it).
    expect(s.max_in_flight).toBe(2);
    expect(f.max_in_flight).toBeLessThanOrEqual(2);
    const slowDone = Math.max(...s.ends) - t0;
    const fastDone = Math.max(...f.ends) - t0;
    console.log(
      `politeness: slow host max ${s.max_in_flight} in flight, 60 pages in ${slowDone} ms; ` +
        `second host max ${f.max_in_flight}, 20 pages in ${fastDone} ms ` +
        `(${((20 * 1000) / fastDone).toFixed(1)} pages/s)`,
    );
    // 60 pages of 400 ms two at a time take 12 s at least; the second host does not wait for them.
    expect(slowDone).toBeGreaterThanOrEqual(12_000);
    expect(fastDone).toBeLessThan(slowDone / 2);
  }, 150_000);

  it("shares a host's limit between two runs of one tenant", async () => {
    const { key } = await newTenant();
    const tag = newTag();
    const pages = (who: string) =>
      Array.from({ length: 16 }, (_, i) => ({ url: target(`/polite/page?tag=${tag}&ms=300&who=${who}&i=${i}`) }));
    const a = await createPolite(key, pages("a"), { per_host_concurrency: 2 });
    const b = await createPolite(key, pages("b"), { per_host_concurrency: 2 });
    const [ra, rb] = await Promise.all([startRun(key, a.id), startRun(key, b.id)]);
    const [da, db] = await Promise.all([
      waitForRun(key, a.id, ra.run_id, 120_000),
      waitForRun(key, b.id, rb.run_id, 120_000),
    ]);
    expect(da.success_requests + db.success_requests).toBe(32);
    const h = (await seen(tag))[hostOf(target("/"))];
    expect(h.starts).toHaveLength(32);
    expect(h.max_in_flight).toBe(2);
    // Both runs moved together (a waiting run gets its share), neither waited for the other to end.
    const half = [...h.starts].sort((x, y) => x - y)[16];
    expect(startsOf(h, "a").filter((t) => t < half).length).toBeGreaterThanOrEqual(4);
    expect(startsOf(h, "b").filter((t) => t < half).length).toBeGreaterThanOrEqual(4);
  }, 150_000);

  it("leaves per_host_delay_ms between the end of one request to a host and the start of the next", async () => {
    const { key } = await newTenant();
    const tag = newTag();
    const DELAY = 700;
    const requests = Array.from({ length: 6 }, (_, i) => ({ url: target(`/polite/page?tag=${tag}&i=${i}`) }));
    const col = await createPolite(key, requests, { per_host_concurrency: 6 });
    // The run's own settings override the collection's; the run reports what applies.
    const res = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      json: { politeness: { per_host_delay_ms: DELAY } },
    });
    expect(res.status).toBe(201);
    const run = (await res.json()) as { run_id: string; politeness: unknown };
    expect(run.politeness).toEqual({ per_host_concurrency: 6, per_host_delay_ms: DELAY });
    const done = await waitForRun(key, col.id, run.run_id, 60_000);
    expect(done.success_requests).toBe(6);
    const h = (await seen(tag))[hostOf(target("/"))];
    expect(h.max_in_flight).toBe(1);
    const starts = [...h.starts].sort((x, y) => x - y);
    const ends = [...h.ends].sort((x, y) => x - y);
    for (let i = 1; i < starts.length; i++) expect(starts[i] - ends[i - 1]).toBeGreaterThanOrEqual(DELAY);
  }, 90_000);

  it("slows a host answering 429 with Retry-After for every run of the tenant, and only that tenant", async () => {
    const a = await newTenant();
    const other = await newTenant();
    const tag = newTag();
    const limited = await createCollection(a.key, [{ url: target(`/polite/429?tag=${tag}&after=2`) }]);
    const first = await startRun(a.key, limited.id);
    let refusedAt = 0;
    for (let i = 0; i < 100 && !refusedAt; i++) {
      const h = (await seen(tag))[hostOf(target("/"))];
      if (h?.statuses.includes(429)) refusedAt = h.ends[h.statuses.indexOf(429)];
      else await sleep(50);
    }
    expect(refusedAt).toBeGreaterThan(0);
    // Right after the 429: another run of the same tenant, and a run of another tenant, same host.
    const pages = (who: string) =>
      Array.from({ length: 3 }, (_, i) => ({ url: target(`/polite/429?tag=${tag}&who=${who}&i=${i}`) }));
    const sameCol = await createCollection(a.key, pages("same"));
    const otherCol = await createCollection(other.key, pages("other"));
    const [same, elsewhere] = await Promise.all([startRun(a.key, sameCol.id), startRun(other.key, otherCol.id)]);
    const runs = await Promise.all([
      waitForRun(a.key, limited.id, first.run_id, 60_000),
      waitForRun(a.key, sameCol.id, same.run_id, 60_000),
      waitForRun(other.key, otherCol.id, elsewhere.run_id, 60_000),
    ]);
    // The refused job itself ran again after the pause and succeeded, on its second attempt.
    expect(runs.map((r) => r.success_requests)).toEqual([1, 3, 3]);
    const h = (await seen(tag))[hostOf(target("/"))];
    expect(h.starts).toHaveLength(1 + 1 + 3 + 3);
    // The other tenant went ahead at once; tenant a's next request (its retry, or its other run's)
    // came 2 s after the 429 at the earliest: the pause counts from when the service recorded the
    // answer, so it can only come later.
    const tenantStarts = [...startsOf(h, ""), ...startsOf(h, "same")].filter((t) => t > refusedAt);
    expect(tenantStarts).toHaveLength(4);
    expect(Math.min(...tenantStarts) - refusedAt).toBeGreaterThanOrEqual(2_000);
    expect(Math.min(...startsOf(h, "other"))).toBeLessThan(Math.min(...tenantStarts));
  }, 90_000);

  it("gives a cancelled run's slots back to the tenant at once", async () => {
    const { key } = await newTenant();
    const tag = newTag();
    const slow = Array.from({ length: 6 }, (_, i) => ({
      url: target(`/polite/page?tag=${tag}&ms=8000&who=slow&i=${i}`),
    }));
    const col = await createPolite(key, slow, { per_host_concurrency: 2 });
    const run = await startRun(key, col.id);
    for (let i = 0; i < 100 && startsOf((await seen(tag))[hostOf(target("/"))] ?? emptySeen, "slow").length < 2; i++)
      await sleep(50);
    const cancelled = await api(`/v1/async/collections/${col.id}/runs/${run.run_id}/cancel`, { method: "POST", key });
    expect(cancelled.status).toBe(200);
    // The cancelled run's two requests are still running at the target; its slots are not. (Its
    // queue batch holds the local consumer until they end, so the test watches the release, which
    // is what politeness decides: pending while the host is full, in_progress once granted.)
    const next = await createPolite(key, [{ url: target(`/polite/page?tag=${tag}&who=next`) }], {
      per_host_concurrency: 2,
    });
    const nextRun = await startRun(key, next.id);
    let releasedAt = 0;
    for (let i = 0; i < 200 && !releasedAt; i++) {
      const [job] = await allJobs(key, next.id, nextRun.run_id);
      if (job.status !== "pending") releasedAt = Date.now();
      else await sleep(50);
    }
    const done = await waitForRun(key, next.id, nextRun.run_id, 30_000);
    expect(done.success_requests).toBe(1);
    const h = (await seen(tag))[hostOf(target("/"))];
    expect(startsOf(h, "slow")).toHaveLength(2);
    // Released while both of the cancelled run's requests (8 s each) were still in flight.
    expect(releasedAt).toBeGreaterThan(0);
    expect(releasedAt).toBeLessThan(Math.min(...startsOf(h, "slow")) + 8_000);
  }, 60_000);

  it("refuses politeness out of range with 422 and the path, creating nothing", async () => {
    const { key } = await newTenant();
    const bad: [unknown, string][] = [
      [{ per_host_concurrency: 0 }, "politeness.per_host_concurrency"],
      [{ per_host_concurrency: 51 }, "politeness.per_host_concurrency"],
      [{ per_host_delay_ms: 60_001 }, "politeness.per_host_delay_ms"],
      [{ per_host_delay_ms: 1.5 }, "politeness.per_host_delay_ms"],
      [{ per_host: 2 }, "politeness"],
    ];
    for (const [politeness, path] of bad) {
      const res = await api("/v1/async/collections", {
        method: "POST",
        key,
        json: { name: "x", requests: [{ url: target("/ok") }], politeness },
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { errors: { path: string }[] };
      expect(body.errors.map((e) => e.path)).toContain(path);
    }
    const list = (await (await api("/v1/async/collections", { key })).json()) as { total: number };
    expect(list.total).toBe(0);
    const col = await createCollection(key, [{ url: target("/ok") }]);
    const run = await api(`/v1/async/collections/${col.id}/run`, {
      method: "POST",
      key,
      json: { politeness: { per_host_concurrency: 100 } },
    });
    expect(run.status).toBe(422);
    expect(((await run.json()) as { errors: { path: string }[] }).errors[0].path).toBe(
      "politeness.per_host_concurrency",
    );
    const runs = (await (await api(`/v1/async/collections/${col.id}/runs`, { key })).json()) as { total: number };
    expect(runs.total).toBe(0);
  });
});
