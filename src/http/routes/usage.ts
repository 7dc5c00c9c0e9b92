import { createRoute } from "@hono/zod-openapi";
import { now } from "../../clock";
import { LIMITS, settings } from "../../config";
import { inFlightJobs } from "../../db/runs";
import { firstKeptDay, type UsageDayRow, usageDays } from "../../db/usage";
import { Usage, UsageQuery } from "../../schemas";
import { ApiError } from "../errors";
import { errorResponses, router, security } from "./common";

export const usage = router();

const DAY_MS = 24 * 3600_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const msOf = (day: string) => Date.parse(`${day}T00:00:00Z`);

const invalid = (path: string, detail: string, message: string) =>
  new ApiError("validation_failed", detail, { errors: [{ path, message }] });

/**
 * The range a query asks for, with its defaults (the 30 days up to today), or a 422 naming the
 * parameter: days are kept for LIMITS.usageDays, so a range reaches back no further and is no longer.
 */
export function usageRange(q: { from?: string; to?: string }, nowMs: number): { from: string; to: string } {
  const oldest = firstKeptDay(nowMs);
  const kept = `Usage is kept for ${LIMITS.usageDays} days`;
  const to = q.to ?? dayOf(nowMs);
  if (to < oldest)
    throw invalid("to", `${kept}: to must be ${oldest} or later.`, `before ${oldest}, the oldest day kept`);
  const from = q.from ?? dayOf(Math.max(msOf(to) - 29 * DAY_MS, msOf(oldest)));
  if (from > to) throw invalid("from", `from (${from}) is after to (${to}); pass from <= to.`, "after `to`");
  if (from < oldest) {
    throw invalid("from", `${kept}: from must be ${oldest} or later.`, `before ${oldest}, the oldest day kept`);
  }
  const days = (msOf(to) - msOf(from)) / DAY_MS + 1;
  if (days > LIMITS.usageDays) {
    const detail = `The range ${from}..${to} spans ${days} days; ask for at most ${LIMITS.usageDays} at a time.`;
    throw invalid("to", detail, `at most ${LIMITS.usageDays} days from \`from\``);
  }
  return { from, to };
}

/** Every day of the range, zeros where the tenant had no usage. */
function daysOf(range: { from: string; to: string }, rows: UsageDayRow[]) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const out = [];
  for (let t = msOf(range.from); t <= msOf(range.to); t += DAY_MS) {
    const date = dayOf(t);
    const r = byDay.get(date);
    out.push({
      date,
      jobs: { success: r?.success ?? 0, failed: r?.failed ?? 0, timeout: r?.timeout ?? 0 },
      fetch_jobs: r?.fetch_jobs ?? 0,
      browser_jobs: r?.browser_jobs ?? 0,
      browser_seconds: (r?.browser_ms ?? 0) / 1000,
      bytes_stored: r?.bytes_stored ?? 0,
    });
  }
  return out;
}

const get = createRoute({
  method: "get",
  path: "/",
  operationId: "getUsage",
  tags: ["Usage"],
  summary: "The tenant's usage per day, its jobs in flight and its rate limit",
  description:
    "Days are UTC and attributed when the service recorded the jobs' outcomes. Counters are kept as runs " +
    "progress, so a run in progress shows up within seconds of its jobs ending. Usage stays after the runs " +
    `and collections it came from are deleted; days are kept ${LIMITS.usageDays} days.`,
  security,
  request: { query: UsageQuery },
  responses: {
    200: { content: { "application/json": { schema: Usage } }, description: "Usage" },
    ...errorResponses,
  },
});

usage.openapi(get, async (c) => {
  const tenant = c.get("tenant");
  const range = usageRange(c.req.valid("query"), now());
  const [rows, jobs] = await Promise.all([
    usageDays(c.env.DB, tenant, range.from, range.to),
    inFlightJobs(c.env.DB, tenant),
  ]);
  return c.json(
    {
      days: daysOf(range, rows),
      in_flight: { jobs, cap: settings(c.env).MAX_JOBS_IN_FLIGHT },
      rate_limit: { limit: LIMITS.tenantRateLimit.limit, period_s: LIMITS.tenantRateLimit.periodSeconds },
    },
    200,
  );
});
