/**
 * Every schema of the API, once. They validate requests (through @hono/zod-openapi routes) and
 * generate the OpenAPI 3.1 document; handler types are inferred from them.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "./config";
import { JOB_STATUSES, RUN_STATUSES } from "./domain";
import { MAX_EXTRACT_NAMES_PER_COLLECTION, RESULT_FORMATS, resultOptionsShape } from "./extract/schema";
import { normalizeTargetUrl, UrlError } from "./fetchers/url-guard";
import { DEVICES, RESOURCE_TYPES, WAIT_UNTIL } from "./request-options";
import { checkRequestOptions, RequestCookieSchema, requestOptionsShape } from "./request-options-schema";
import { utf8Bytes } from "./sizes";
import { WEBHOOK_EVENTS } from "./webhooks/messages";

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

/** Ids and instants the examples of the document share, so one example's ids lead to the next. */
const EX = {
  collection: "3f6c2a1e-8b4d-4c7a-9e21-5d0b7a6c4f10",
  run: "b2d7e9c4-1a3f-4e6b-8c5d-7f9a0b1c2d3e",
  job: "5e8a1c3b-7d2f-4a9e-b6c1-0d4f8e2a9b7c",
  created: "2026-11-28T12:00:00.123Z",
  started: "2026-11-28T12:00:00.456Z",
  completed: "2026-11-28T12:00:01.789Z",
};

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
  `(${LIMITS.maxRequestBytes} bytes) in UTF-8; a larger one is refused with 422 naming it (requests[i]). ` +
  `The requests of a collection use at most ${MAX_EXTRACT_NAMES_PER_COLLECTION} distinct extract field names ` +
  "(the export's CSV has a column for each); the first past it is refused with 422 naming it.";

/** The host a request's cookies are judged against, or null for a URL that has its own issue. */
function hostOf(raw: string): string | null {
  try {
    return new URL(normalizeTargetUrl(raw)).hostname;
  } catch {
    return null;
  }
}

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
    ...requestOptionsShape,
  })
  .strict()
  .superRefine((r, ctx) => {
    // The host only matters to cookies: a collection of 100,000 requests without any parses no URL here.
    checkRequestOptions(r, r.cookies ? hostOf(r.url) : null, ctx);
    if (!r.browser && r.screenshot)
      ctx.addIssue({ code: "custom", path: ["screenshot"], message: "screenshot needs browser: true" });
    if (!r.browser && r.full_page)
      ctx.addIssue({ code: "custom", path: ["full_page"], message: "full_page needs browser: true" });
    if (!r.browser && r.actions.length > 0)
      ctx.addIssue({ code: "custom", path: ["actions"], message: "actions need browser: true" });
  })
  .openapi("Request", { description: REQUEST_SIZE_RULE });
export type ScrapeRequest = z.infer<typeof ScrapeRequest>;

// ── Webhooks (configuration) ────────────────────────────────────────────────────────────────
export const WebhookEventName = z.enum(WEBHOOK_EVENTS);
export const Webhook = z
  .object({
    url: z
      .string()
      .min(1)
      .max(2_048)
      .superRefine((raw, ctx) => {
        try {
          normalizeTargetUrl(raw);
        } catch (e) {
          ctx.addIssue({ code: "custom", message: e instanceof UrlError ? e.message : "not a valid URL" });
        }
      })
      .openapi({
        example: "https://example.com/hooks/scrape",
        description: "Receives a signed POST per event; it must pass the same URL guard as targets",
      }),
    events: z
      .array(WebhookEventName)
      .min(1)
      .max(WEBHOOK_EVENTS.length)
      .default(["run.completed"])
      .transform((e) => [...new Set(e)]),
  })
  .strict()
  .openapi("Webhook");
export type Webhook = z.infer<typeof Webhook>;
/** A webhook as stored and shown (the URL normalised). */
export const StoredWebhook = z.object({ url: z.string(), events: z.array(WebhookEventName) }).openapi("StoredWebhook");

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
    webhook: Webhook.optional().openapi({ description: "Signed deliveries of its runs' events" }),
    politeness: PolitenessInput.optional(),
  })
  .strict()
  .openapi("CreateCollection", {
    example: {
      name: "Product pages",
      requests: [
        { url: "www.example.com", custom_id: "home" },
        {
          url: "https://example.com/pricing",
          browser: true,
          screenshot: true,
          actions: [{ type: "wait-for-selector", selector: "#prices" }],
          formats: ["markdown", "metadata"],
        },
      ],
    },
  });

export const ReplaceCollectionBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    requests: z.array(ScrapeRequest).min(1).max(HARD_MAX_REQUESTS).openapi({ description: REQUEST_SIZE_RULE }),
    webhook: Webhook.nullable()
      .optional()
      .openapi({ description: "Replaces the webhook for future runs; null removes it; omitted keeps it" }),
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
  .openapi("CollectionCreated", {
    example: {
      id: EX.collection,
      name: "Product pages",
      message: "Collection created successfully.",
      total_requests: 2,
      duplicates_skipped: 0,
    },
  });

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
    headers: z.record(z.string(), z.string()).optional(),
    cookies: z.array(RequestCookieSchema).optional(),
    user_agent: z.string().optional(),
    device: z.enum(DEVICES),
    wait_until: z.enum(WAIT_UNTIL),
    block_resources: z.array(z.enum(RESOURCE_TYPES)),
  })
  .openapi("StoredRequest");

export const Collection = CollectionSummary.extend({
  updated_at: Timestamp,
  politeness: Politeness,
  requests: z.array(StoredRequest),
  webhook: StoredWebhook.nullable(),
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
    webhook: Webhook.optional().openapi({ description: "For this run, instead of the collection's" }),
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
    webhook: z
      .object({ status: z.enum(["pending", "delivered", "failed"]), attempts: z.number().int() })
      .nullable()
      .optional()
      .openapi({
        description:
          "The run's run.completed delivery (pending until the run ends); null without a webhook that takes " +
          "run.completed. " +
          "Present where the run is read live (GET the run, POST /run, cancel); not in the list of runs " +
          "nor in webhook payloads.",
      }),
    politeness: Politeness.openapi({ description: "The politeness that applies to the run" }),
  })
  .openapi("RunSummary", {
    example: {
      run_id: EX.run,
      status: "in_progress",
      total_requests: 2,
      success_requests: 1,
      failed_requests: 0,
      timeout_requests: 0,
      collection_id: EX.collection,
      created_at: EX.created,
      completed_at: null,
      politeness: { per_host_concurrency: 6, per_host_delay_ms: 0 },
    },
  });
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
  .openapi("Job", {
    example: {
      job_id: EX.job,
      run_id: EX.run,
      collection_id: EX.collection,
      custom_id: "home",
      url: "https://www.example.com/",
      browser: false,
      status: "completed",
      status_code: 200,
      final_url: "https://www.example.com/",
      blocked_reason: null,
      error: null,
      attempts: 1,
      created_at: EX.created,
      started_at: EX.started,
      completed_at: EX.completed,
      timings: { queue_wait_ms: 333, fetch_ms: 950, total_ms: 1333 },
      result_available: true,
      screenshot_available: false,
    },
  });
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

export const EventsQuery = z.object({
  after: Cursor.openapi({
    description: "Resume after this event id (a job cursor of order_by=completed_at); Last-Event-ID wins over it",
  }),
});
export const EventsHeaders = z.object({
  "last-event-id": Cursor.openapi({ description: "The id of the last event received: resume after it" }),
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
    example: {
      job_id: EX.job,
      url: "https://www.example.com/",
      final_url: "https://www.example.com/",
      custom_id: "home",
      status: "completed",
      status_code: 200,
      blocked_reason: null,
      error: null,
      timings: { queue_wait_ms: 333, fetch_ms: 950, total_ms: 1333 },
      html:
        "<!doctype html><html><head><title>Example Domain</title></head>" +
        "<body><h1>Example Domain</h1></body></html>",
    },
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
  include: commaList(["metadata", "extracted", "markdown"] as const, "include").openapi({
    type: "string",
    description:
      "Comma-separated extra fields: metadata, extracted (kept 90 days), markdown (made when the job ran, for " +
      "jobs whose request asked for the markdown format; kept 48 h with the page)",
  }),
});

// ── Webhooks (deliveries and events) ────────────────────────────────────────────────────────
export const Delivery = z
  .object({
    delivery_id: Uuid.openapi({ description: "The webhook-id header of every attempt" }),
    event: WebhookEventName,
    url: z.string(),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: Timestamp,
    last_attempt_at: Timestamp.nullable(),
    next_attempt_at: Timestamp.nullable(),
    delivered_at: Timestamp.nullable(),
    job_count: z.number().int().optional().openapi({ description: "job.completed: the jobs it carries" }),
  })
  .openapi("Delivery");
export const DeliveryList = z
  .object({ items: z.array(Delivery), has_more: z.boolean(), cursor_next: z.string().nullable() })
  .openapi("DeliveryList");
export const DeliveryListQuery = z.object({ limit: Limit, cursor: Cursor });
export const DeliveryParams = RunParams.extend({
  delivery_id: Uuid.openapi({ param: { name: "delivery_id", in: "path" } }),
});
export const WebhookSecret = z
  .object({
    secret: z.string().openapi({
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      description: "Standard Webhooks secret: whsec_ + base64 of the HMAC-SHA256 key",
    }),
    previous_valid_until: Timestamp.nullable().openapi({
      description: "After a rotation, the replaced secret also signs deliveries until then",
    }),
  })
  .openapi("WebhookSecret");

export const RunCompletedEvent = z
  .object({ type: z.literal("run.completed"), timestamp: Timestamp, data: RunSummary })
  .openapi("RunCompletedEvent", { description: "Sent once when a run ends (completed or cancelled)" });
export const JobCompletedEvent = z
  .object({
    type: z.literal("job.completed"),
    timestamp: Timestamp,
    data: z.object({ run_id: Uuid, collection_id: Uuid, jobs: z.array(Job).min(1).max(100) }),
  })
  .openapi("JobCompletedEvent", {
    description: "Finished jobs of one recorded batch (at most 100); every finished job is in exactly one",
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

// ── Usage ───────────────────────────────────────────────────────────────────────────────────
/** A UTC calendar day that exists ("2026-02-30" does not). */
export const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "a date as YYYY-MM-DD")
  .refine(
    (d) => {
      const t = Date.parse(`${d}T00:00:00Z`);
      return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === d;
    },
    { message: "not a calendar date" },
  )
  .openapi({ example: "2026-11-28", description: "A UTC day, YYYY-MM-DD" });

export const UsageQuery = z.object({
  from: Day.optional().openapi({ description: "First day (UTC), inclusive; default: 29 days before `to`" }),
  to: Day.optional().openapi({ description: "Last day (UTC), inclusive; default: today" }),
});

export const UsageDay = z
  .object({
    date: Day,
    jobs: z
      .object({ success: z.number().int(), failed: z.number().int(), timeout: z.number().int() })
      .openapi({ description: "Jobs that ended that day, by outcome: the runs' counters" }),
    fetch_jobs: z.number().int().openapi({ description: "Jobs a worker fetched to an outcome (fetch mode)" }),
    browser_jobs: z.number().int().openapi({ description: "Jobs a worker rendered to an outcome (browser mode)" }),
    browser_seconds: z
      .number()
      .openapi({ description: "Page time of those browser jobs (navigation, render, actions)" }),
    bytes_stored: z.number().int().openapi({ description: "Bytes of HTML and screenshots stored for those jobs" }),
  })
  .openapi("UsageDay");

export const Usage = z
  .object({
    days: z.array(UsageDay).openapi({ description: "Every day of the range, oldest first (zeros where nothing ran)" }),
    in_flight: z
      .object({ jobs: z.number().int(), cap: z.number().int() })
      .openapi({ description: "Unfinished jobs of the tenant's runs in progress now, and the cap on them" }),
    rate_limit: z
      .object({ limit: z.number().int(), period_s: z.number().int() })
      .openapi({ description: "API requests allowed per period (seconds) for the tenant" }),
  })
  .openapi("Usage");
