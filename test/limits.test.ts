/** Per-tenant limits: request rate and jobs in flight answer 429 with Retry-After and create nothing. */
import { describe, expect, it } from "vitest";
import { api, createCollection, newTenant, target } from "./support/api";

describe("tenant limits", () => {
  it("rate-limits a tenant past 1,000 requests per 10 s, and only that tenant", async () => {
    const a = await newTenant();
    const b = await newTenant();
    // Each request counts once: 900 in a row all pass (a window holds 1,000).
    for (let i = 0; i < 900; i += 100) {
      const statuses = await Promise.all(Array.from({ length: 100 }, async () => (await api(`/v1/async/collections/${crypto.randomUUID()}/runs`, { key: a.key })).status));
      expect(statuses.filter((s) => s === 429)).toEqual([]);
    }
    let limited: Response | null = null;
    // Windows are aligned to the clock, so up to twice the limit may pass before one fills.
    for (let i = 0; i < 2_200 && !limited; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => api("/v1/async/collections?limit=1", { key: a.key })));
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
    const col = await createCollection(key, Array.from({ length: 10_000 }, (_, i) => ({ url: target(`/hang?${i}`), timeout: 120_000 })));
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
    await Promise.all(runs.map((r) => api(`/v1/async/collections/${col.id}/runs/${r}/cancel`, { method: "POST", key })));
    const again = await api(`/v1/async/collections/${col.id}/run`, { method: "POST", key });
    expect(again.status).toBe(201);
    await api(`/v1/async/collections/${col.id}/runs/${((await again.json()) as { run_id: string }).run_id}/cancel`, { method: "POST", key });
  });
});
