/** Per-tenant limits: request rate and jobs in flight answer 429 with Retry-After and create nothing. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, target } from "./support/api";

describe("tenant limits", () => {
  it("rate-limits a tenant past 1,000 requests per 10 s, and only that tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    // Each request counts once: 900 in a row all pass (a window holds 1,000).
    for (let i = 0; i < 900; i += 100) {
      const statuses = await Promise.all(
        Array.from(
          { length: 100 },
          async () => (await api(`/v1/async/collections/${crypto.randomUUID()}/runs`, { key: a.key })).status,
        ),
      );
      expect(statuses.filter((s) => s === 429)).toEqual([]);
    }
    let limited: Response | null = null;
    // Windows are aligned to the clock, so up to twice the limit may pass before one fills.
    for (let i = 0; i < 2_200 && !limited; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, () => api("/v1/async/collections?limit=1", { key: a.key })),
      );
      limited = batch.find((r) => r.status === 429) ?? null;
    }
    expect(limited).not.toBeNull();
    expect(limited!.headers.get("retry-after")).toBeTruthy();
    expect(limited!.headers.get("content-type")).toContain("application/problem+json");
    expect((await api("/v1/async/collections", { key: b.key })).status).toBe(200);
  });

  it("refuses a run that would pass the tenant's cap of jobs in flight", async () => {
    const { key } = await newTenant();
    // The cap in tests is 200,000 (wrangler.toml); runs of 10,000 slow jobs fill it 10,000 at a time.
    const col = await createCollection(
      key,
      Array.from({ length: 10_000 }, (_, i) => ({ url: target(`/hang?${i}`), timeout: 120_000 })),
    );
    const runs: string[] = [];
    let refused: Response | null = null;
    for (let i = 0; i < 21 && !refused; i++) {
      const res = await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key });
      if (res.status === 201) runs.push(((await res.json()) as { run_id: string }).run_id);
      else refused = res;
    }
    expect(runs.length).toBe(20);
    expect(refused!.status).toBe(429);
    expect(((await refused!.json()) as { detail: string }).detail).toMatch(/in flight/);
    // Cancelling frees the capacity.
    await Promise.all(
      runs.map((r) => api(`/v1/async/collections/${col.id}/runs/${r}/cancel`, { method: "POST", key })),
    );
    const again = await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key });
    expect(again.status).toBe(201);
    await api(`/v1/async/collections/${col.id}/runs/${((await again.json()) as { run_id: string }).run_id}/cancel`, {
      method: "POST",
      key,
    });
  });

  it("lets exactly as many of 30 concurrent runs start as fit under the cap of jobs in flight", async () => {
    const { key, tenant } = await newTenant();
    const perRun = 2;
    const fit = 3;
    // Jobs that outlast the test, so no run frees capacity while the starts race.
    const hanging = Array.from({ length: perRun }, (_, i) => ({ url: target(`/hang?${i}`), timeout: 30_000 }));
    const col = await createCollection(key, hanging);
    const cap = Number(env.MAX_JOBS_IN_FLIGHT);
    // Runs in progress holding all of the cap but room for `fit` runs: one row, as 200,000 real
    // jobs would take minutes to create.
    const filler = crypto.randomUUID();
    const at = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    await env.DB.prepare(
      `INSERT INTO runs (id, tenant, collection_id, status, total_requests, created_at, requests_version, synced_at)
       VALUES (?1, ?2, ?3, 'in_progress', ?4, ?5, 1, ?5)`,
    )
      .bind(filler, tenant, col.id, cap - fit * perRun, iso(at))
      .run();
    const start = () => api(`/v1/async/collections/${col.id}/run`, { method: "POST", key });
    const responses = await Promise.all(Array.from({ length: 30 }, start));
    const started = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status === 429);
    expect([started.length, refused.length]).toEqual([fit, 30 - fit]);
    for (const r of refused) expect(r.headers.get("retry-after")).toBeTruthy();
    const runs = await Promise.all(started.map(async (r) => (await r.json()) as { run_id: string }));
    const inFlight = await env.DB.prepare(
      `SELECT SUM(total_requests - success_requests - failed_requests - timeout_requests) AS n
       FROM runs WHERE tenant = ?1 AND status = 'in_progress'`,
    )
      .bind(tenant)
      .first<{ n: number }>();
    expect(inFlight!.n).toBeLessThanOrEqual(cap);
    const cancel = (id: string) => api(`/v1/async/collections/${col.id}/runs/${id}/cancel`, { method: "POST", key });
    await Promise.all(runs.map((r) => cancel(r.run_id)));
    await env.DB.prepare("DELETE FROM runs WHERE id = ?1").bind(filler).run();
  });
});
