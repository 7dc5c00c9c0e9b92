/** GET /v1/usage's range rule and the rate limit it reports, which must be wrangler.toml's. */
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config";
import { ApiError } from "../../src/http/errors";
import { usageRange } from "../../src/http/routes/usage";

const NOW = Date.parse("2026-11-29T03:00:00Z");

describe("usage range", () => {
  const ok: [{ from?: string; to?: string }, { from: string; to: string }][] = [
    [{}, { from: "2026-10-31", to: "2026-11-29" }],
    [{ to: "2026-11-10" }, { from: "2026-10-12", to: "2026-11-10" }],
    // A default `from` never reaches past the oldest day kept.
    [{ to: "2026-09-05" }, { from: "2026-09-01", to: "2026-09-05" }],
    [{ from: "2026-09-01" }, { from: "2026-09-01", to: "2026-11-29" }],
    [
      { from: "2026-11-29", to: "2026-11-29" },
      { from: "2026-11-29", to: "2026-11-29" },
    ],
    [
      { from: "2026-11-29", to: "2027-02-26" },
      { from: "2026-11-29", to: "2027-02-26" },
    ],
  ];
  it.each(ok)("%j → %j", (q, want) => expect(usageRange(q, NOW)).toEqual(want));

  const refused: [{ from?: string; to?: string }, string, RegExp][] = [
    [{ from: "2026-11-20", to: "2026-11-19" }, "from", /after to/],
    [{ from: "2026-08-31" }, "from", /2026-09-01 or later/],
    [{ to: "2026-08-31" }, "to", /2026-09-01 or later/],
    [{ from: "2026-11-29", to: "2027-02-27" }, "to", /spans 91 days/],
  ];
  it.each(refused)("%j → 422 on %s", (q, path, detail) => {
    let error: unknown;
    try {
      usageRange(q, NOW);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    expect(e.status).toBe(422);
    expect(e.options.errors?.[0]?.path).toBe(path);
    expect(e.detail).toMatch(detail);
  });
});

describe("rate limit reported", () => {
  it("is TENANT_RATE_LIMIT as wrangler.toml configures it", () => {
    const files = import.meta.glob<string>("../../wrangler.toml", { query: "?raw", import: "default", eager: true });
    const toml = Object.values(files)[0];
    const block = toml.split(/^\s*\[/m).find((b) => /name\s*=\s*"TENANT_RATE_LIMIT"/.test(b));
    const m = block?.match(/simple\s*=\s*\{\s*limit\s*=\s*(\d+)\s*,\s*period\s*=\s*(\d+)\s*\}/);
    expect(m?.slice(1).map(Number)).toEqual([LIMITS.tenantRateLimit.limit, LIMITS.tenantRateLimit.periodSeconds]);
  });
});
