/**
 * Every schema of the API, once. They validate requests (through @hono/zod-openapi routes) and
 * generate the OpenAPI 3.1 document; handler types are inferred from them.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "./config";
import { JOB_STATUSES, RUN_STATUSES } from "./domain";
import { RESULT_FORMATS, resultOptionsShape } from "./extract/schema";
import { normalizeTargetUrl, UrlError } from "./fetchers/url-guard";
import { utf8Bytes } from "./sizes";

// ── Shared ──────────────────────────────────────────────────────────────────────────────────
export const Uuid = z.string().uuid();
export const Timestamp = z
  .string()
  .openapi({ example: "2026-11-28T12:00:00.123Z", description: "ISO 8601 UTC with milliseconds" });

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem", { description: "RFC 9457 problem details" });

export const Limit = z.coerce.number().int().min(1).max(500).default(100).openapi({ description: "Page size, 1..500" });
export const Cursor = z.string().max(512).optional().openapi({ description: "Opaque cursor from `cursor_next`" });

// ── Requests and actions ────────────────────────────────────────────────────────────────────
const Ms = (max: number) => z.number().int().min(0).max(max);
const Selector = z.string().min(1).max(1_000);
const scriptCap = `at most ${LIMITS.maxScriptBytes / 1024} KB (${LIMITS.maxScriptBytes} bytes) in UTF-8`;
// A UTF-16 unit is at least one UTF-8 byte, so the length bound is implied by the byte bound; it
// is there for the OpenAPI document and to refuse a huge string before encoding it.
const Script = z
  .string()
  .min(1)
  .max(LIMITS.maxScriptBytes, { message: scriptCap, abort: true })
  .refine((s) => utf8Bytes(s) <= LIMITS.maxScriptBytes, scriptCap)
  .openapi({ description: `JavaScript run in the page; ${scriptCap}` });

export const Action = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("wait-for-timeout"), time: Ms(60_000) }),
    z.object({ type: z.literal("wait-for-selector"), selector: Selector, timeout: Ms(120_000).optional() }),
    z.object({ type: z.literal("click"), selector: Selector }),
    z.object({ type: z.literal("fill"), selector: Selector, value: z.string().max(10_000) }),
    z.object({ type: z.literal("press"), key: z.string().min(1).max(50) }),
    z.object({
      type: z.literal("scroll"),
      direction: z.enum(["down", "up"]).optional(),
      amount: z.union([z.number().int().min(1).max(1_000_000), z.literal("bottom")]).optional(),
    }),
    z.object({ type: z.literal("evaluate"), script: Script }),
    z.object({ type: z.literal("wait-for-navigation"), timeout: Ms(120_000).optional() }),
  ])
  .openapi("Action");
export type Action = z.infer<typeof Action>;

const REQUEST_SIZE_RULE =
  `A request serialised as JSON (url, custom_id and its options) is at most ${LIMITS.maxRequestBytes / 1024} KB ` +
  `(${LIMITS.maxRequestBytes} bytes) in UTF-8; a larger one is refused with 422 naming it (requests[i]).`;

export const ScrapeRequest = z
  .object({
    url: z
      .string()
      .min(1)
      .max(8_192)
      .superRefine((raw, ctx) => {
        try {
          normalizeTargetUrl(raw);
        } catch (e) {
          ctx.addIssue({ code: "custom", message: e instanceof UrlError ? e.message : "not a valid URL" });
        }
      })
      .openapi({ example: "www.example.com", description: "http(s) URL; without a scheme, https:// is assumed" }),
    browser: z.boolean().default(false),
    screenshot: z.boolean().default(false),
    full_page: z
      .boolean()
      .default(false)
      .openapi({ description: "Screenshot the whole page instead of the 1280×800 viewport" }),
    actions: z.array(Action).max(50).default([]),
    custom_id: z.string().min(1).max(255).optional(),
    timeout: z
      .number()
      .int()
      .min(1_000)
      .max(120_000)
      .default(30_000)
      .openapi({ description: "Worker-level timeout in ms for the whole job" }),
    ...resultOptionsShape,
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.browser && r.screenshot)
      ctx.addIssue({ code: "custom", path: ["screenshot"], message: "screenshot needs browser: true" });
    if (!r.browser && r.full_page)
      ctx.addIssue({ code: "custom", path: ["full_page"], message: "full_page needs browser: true" });
    if (!r.browser && r.actions.length > 0)
      ctx.addIssue({ code: "custom", path: ["actions"], message: "actions need browser: true" });
  })
  .openapi("Request", { description: REQUEST_SIZE_RULE });
export type ScrapeRequest = z.infer<typeof ScrapeRequest>;

// ── Collections ─────────────────────────────────────────────────────────────────────────────
export const HARD_MAX_REQUESTS = 100_000;

/** Per-host politeness as given: a field left out comes from the level above (run → collection → default). */
export const PolitenessInput = z
  .object({
    per_host_concurrency: z
      .number()
      .int()
      .min(1)
      .max(50)
      .optional()
      .openapi({
        description:
          "Jobs in flight (released, queued or running) to one host, over all of the tenant's runs in progress. " +
          "Default 6. With per_host_delay_ms above 0, requests to a host run one at a time.",
      }),
    per_host_delay_ms: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .openapi({
        description:
          "Least time in ms between the end of one request to a host and the start of the next, over all of the " +
          "tenant's runs. Default 0.",
      }),
  })
  .strict()
  .openapi("PolitenessInput", {
    description:
      "A host is the URL's host with its port. A 429 or 503 with Retry-After from a host pauses every run of " +
      "the tenant on that host for that long (60 s at most).",
  });
export type PolitenessInput = z.infer<typeof PolitenessInput>;

export const Politeness = z
  .object({ per_host_concurrency: z.number().int(), per_host_delay_ms: z.number().int() })
  .openapi("Politeness");

export const CreateCollectionBody = z
  .object({
    name: z.string().min(1).max(200),
    requests: z.array(ScrapeRequest).min(1).max(HARD_MAX_REQUESTS).openapi({ description: REQUEST_SIZE_RULE }),
    politeness: PolitenessInput.optional(),
  })
  .strict()
  .openapi("CreateCollection");

export const ReplaceCollectionBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    requests: z.array(ScrapeRequest).min(1).max(HARD_MAX_REQUESTS).openapi({ description: REQUEST_SIZE_RULE }),
    politeness: PolitenessInput.optional().openapi({ description: "Fields left out keep their current value." }),
  })
  .strict()
  .openapi("ReplaceCollection");

export const CollectionCreated = z
  .object({
    id: Uuid,
    name: z.string(),
    message: z.string().openapi({ example: "Collection created successfully." }),
    total_requests: z.number().int(),
    duplicates_skipped: z.number().int(),
  })
  .openapi("CollectionCreated");

export const CollectionSummary = z
  .object({ id: Uuid, name: z.string(), total_requests: z.number().int(), created_at: Timestamp })
  .openapi("CollectionSummary");

export const StoredRequest = z
  .object({
    url: z.string(),
    browser: z.boolean(),
    screenshot: z.boolean(),
    full_page: z.boolean(),
    actions: z.array(Action),
    custom_id: z.string().nullable(),
    timeout: z.number().int(),
    formats: z.array(z.enum(RESULT_FORMATS)),
    only_main_content: z.boolean(),
    extract: z
      .record(
        z.string(),
        z.object({ selector: z.string(), attribute: z.string().optional(), all: z.boolean().optional() }),
      )
      .optional(),
  })
  .openapi("StoredRequest");

export const Collection = CollectionSummary.extend({
  updated_at: Timestamp,
  politeness: Politeness,
  requests: z.array(StoredRequest),
}).openapi("Collection");

export const CollectionList = z
  .object({
    items: z.array(CollectionSummary),
    total: z.number().int(),
    has_more: z.boolean(),
    cursor_next: z.string().nullable(),
  })
  .openapi("CollectionList");

export const CollectionParams = z.object({ id: Uuid.openapi({ param: { name: "id", in: "path" } }) });

// ── Runs ────────────────────────────────────────────────────────────────────────────────────
export const RunStatus = z.enum(RUN_STATUSES);

export const StartRunBody = z
  .object({
    politeness: PolitenessInput.optional().openapi({
      description: "For this run only; fields left out come from the collection.",
    }),
  })
  .strict()
  .openapi("StartRun");

export const RunSummary = z
  .object({
    run_id: Uuid,
    status: RunStatus,
    total_requests: z.number().int(),
    success_requests: z.number().int(),
    failed_requests: z.number().int(),
    timeout_requests: z.number().int(),
    collection_id: Uuid,
    created_at: Timestamp,
    completed_at: Timestamp.nullable(),
    politeness: Politeness.openapi({ description: "The politeness that applies to the run" }),
  })
  .openapi("RunSummary");
export type RunSummary = z.infer<typeof RunSummary>;

export const RunList = z
  .object({
    total: z.number().int(),
    items: z.array(RunSummary),
    has_more: z.boolean(),
    cursor_next: z.string().nullable(),
  })
  .openapi("RunList");

const commaList = <const V extends readonly [string, ...string[]]>(values: V, what: string) =>
  z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (s === undefined || s.trim() === "") return undefined;
      const parts = [
        ...new Set(
          s
            .split(",")
            .map((p) => p.trim())
            .filter(Boolean),
        ),
      ];
      const bad = parts.filter((p) => !(values as readonly string[]).includes(p));
      if (bad.length) {
        ctx.addIssue({
          code: "custom",
          message: `unknown ${what} ${bad.map((b) => `"${b}"`).join(", ")}; use ${values.join(", ")}`,
        });
        return z.NEVER;
      }
      return parts as V[number][];
    })
    .openapi({ type: "string", description: `Comma-separated ${what}s: ${values.join(", ")}` });

export const RunParams = z.object({
  id: Uuid.openapi({ param: { name: "id", in: "path" } }),
  run_id: Uuid.openapi({ param: { name: "run_id", in: "path" } }),
});
export const RunListQuery = z.object({
  status_filter: commaList(RUN_STATUSES, "run status"),
  limit: Limit,
  cursor: Cursor,
});

// ── Jobs ────────────────────────────────────────────────────────────────────────────────────
export const Timings = z
  .object({
    queue_wait_ms: z.number().int().nullable(),
    fetch_ms: z.number().int().nullable(),
    render_ms: z.number().int().nullable().optional(),
    total_ms: z.number().int().nullable(),
  })
  .openapi("Timings");

// ── Result formats ──────────────────────────────────────────────────────────────────────────
const nullableString = z.string().nullable();
export const PageMetadata = z
  .object({
    title: nullableString,
    description: nullableString,
    language: nullableString,
    canonical_url: nullableString,
    favicon: nullableString,
    og: z.object({
      title: nullableString,
      description: nullableString,
      image: nullableString,
      type: nullableString,
      site_name: nullableString,
    }),
  })
  .openapi("PageMetadata", { description: "From the page's head; URLs absolute" });
export const Extracted = z
  .record(z.string(), z.union([z.string(), z.array(z.string()), z.null()]))
  .openapi("Extracted", {
    description: "One value per extract field: the first match (or null), or every match with `all`",
  });
export const PageLink = z.object({ url: z.string(), text: z.string() }).openapi("PageLink");
/** Kept with the job's metadata (90 days), so the listing, the job and the result carry them. */
const keptResultFields = {
  metadata: PageMetadata.nullable()
    .optional()
    .openapi({ description: "With formats including metadata; null when no page was captured" }),
  extracted: Extracted.nullable().optional().openapi({ description: "With extract; null when no page was captured" }),
  extract_truncated: z
    .boolean()
    .optional()
    .openapi({ description: "true when metadata and extracted were cut to 64 KB" }),
};

export const Job = z
  .object({
    job_id: Uuid,
    run_id: Uuid,
    collection_id: Uuid,
    custom_id: z.string().nullable(),
    url: z.string(),
    browser: z.boolean(),
    status: z.enum(JOB_STATUSES),
    status_code: z.number().int().nullable(),
    final_url: z.string().nullable(),
    blocked_reason: z.string().nullable(),
    error: z.string().nullable(),
    attempts: z.number().int(),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    timings: Timings,
    result_available: z.boolean(),
    screenshot_available: z.boolean(),
    ...keptResultFields,
  })
  .openapi("Job");
export type Job = z.infer<typeof Job>;

export const JobList = z
  .object({ items: z.array(Job), has_more: z.boolean(), cursor_next: z.string().nullable() })
  .openapi("JobList");

export const JobListQuery = z.object({
  limit: Limit,
  cursor: Cursor,
  order_by: z.enum(["created_at", "completed_at"]).default("created_at"),
  status_filter: commaList(JOB_STATUSES, "job status"),
  since_completed_at: z
    .string()
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Only jobs completed strictly after this instant (with order_by=completed_at)" }),
});

export const JobParams = RunParams.extend({ job_id: Uuid.openapi({ param: { name: "job_id", in: "path" } }) });

export const JobResult = z
  .object({
    job_id: Uuid,
    url: z.string(),
    final_url: z.string().nullable(),
    custom_id: z.string().nullable(),
    status: z.enum(JOB_STATUSES),
    status_code: z.number().int().nullable(),
    blocked_reason: z.string().nullable(),
    error: z.string().nullable(),
    timings: Timings,
    html: z.string().nullable().optional().openapi({ description: "With formats including html (the default)" }),
    markdown: z.string().nullable().optional().openapi({ description: "GitHub-flavoured Markdown, URLs absolute" }),
    text: z.string().nullable().optional(),
    links: z
      .array(PageLink)
      .nullable()
      .optional()
      .openapi({ description: "Absolute http(s) links, de-duplicated, in page order" }),
    ...keptResultFields,
    evaluate_results: z
      .array(z.unknown())
      .optional()
      .openapi({ description: "Return values of the job's `evaluate` actions, in order" }),
  })
  .openapi("JobResult", {
    description:
      "One field per requested format; html, markdown, text and links are made from the stored page " +
      "(null when none was captured).",
  });

export const RAW_FORMATS = ["html", "markdown", "text"] as const;
export const ResultQuery = z.object({
  format: z
    .enum(["json", ...RAW_FORMATS])
    .optional()
    .openapi({
      description: "json (default), or one format raw; Accept: text/html, text/markdown or text/plain does the same",
    }),
});

export const ExportQuery = z.object({
  format: z.enum(["ndjson", "csv"]).default("ndjson"),
  status_filter: commaList(JOB_STATUSES, "job status").openapi({
    type: "string",
    description: "Comma-separated job statuses; default completed, failed, timeout (what has finished so far)",
  }),
  include: commaList(["metadata", "extracted", "markdown"] as const, "include"),
});

// ── Admin ───────────────────────────────────────────────────────────────────────────────────
export const CreateKeyBody = z
  .object({
    tenant: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only"),
    name: z.string().max(200).optional(),
  })
  .strict()
  .openapi("CreateKey");
export const KeyCreated = z
  .object({ key_id: Uuid, tenant: z.string(), name: z.string().nullable(), key: z.string() })
  .openapi("KeyCreated");
export const KeyParams = z.object({ key_id: Uuid.openapi({ param: { name: "key_id", in: "path" } }) });

export const Health = z.object({ status: z.literal("ok") }).openapi("Health");
