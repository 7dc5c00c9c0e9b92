import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireTenant, type AppEnv } from "./middleware/auth";
import { docsPage, SCALAR_PATH, scalarScript } from "./docs";
import { ApiError, onError, problemResponse } from "./errors";
import { describeRequestDefaults } from "./openapi-input";
import { admin } from "./routes/admin";
import { collections } from "./routes/collections";
import { health } from "./routes/health";
import { events } from "./routes/events";
import { exportRoutes } from "./routes/export";
import { jobs } from "./routes/jobs";
import { runs } from "./routes/runs";
import { usage } from "./routes/usage";
import { deliveries, webhookSecrets } from "./routes/webhooks";
import { registerWebhookEvents } from "./webhook-events";

const INFO = {
  title: "Scrape API",
  version: "1.0.0",
  description:
    "Asynchronous scraping: store a collection of page requests, start a run, poll its live counters, " +
    "page through its jobs and results.\n\n" +
    "Every operation but the health check, this document and the docs page needs `Authorization: Bearer " +
    "<api key>`; errors are RFC 9457 problem details (`application/problem+json`) whose `detail` says what " +
    "to do. Lists page with opaque cursors (`cursor_next`).",
  license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
};

/**
 * Descriptions of the tags operations use, in the order the docs list them. A tag an operation names
 * that is missing here is still declared (with its name as description), so a new route never leaves
 * the document with an undeclared tag.
 */
const TAGS: Record<string, string> = {
  Collections: "Stored lists of page requests; a run scrapes every request of its collection once.",
  Runs: "One execution of a collection: live counters, listing, cancelling.",
  Jobs: "One job per request of a run: its outcome, result formats, screenshot and the run's export.",
  Operations: "Health, this document and the interactive reference (no key needed).",
  Admin: "API keys, with the admin token (not an API key).",
};

/**
 * The document GET /v1/openapi.json serves. `server` is the origin it was requested on, so "try it" in
 * the docs page (and a client generated from the document) calls the server the reader is looking at.
 */
export function openApiDocument(app: OpenAPIHono<AppEnv>, server: string) {
  const doc = app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: INFO,
    servers: [{ url: server, description: "The server that served this document" }],
  });
  const used = new Set<string>();
  for (const item of Object.values(doc.paths ?? {}))
    for (const op of Object.values(item as Record<string, { tags?: string[] }>))
      for (const t of op.tags ?? []) used.add(t);
  const ordered = [...Object.keys(TAGS).filter((t) => used.has(t)), ...[...used].filter((t) => !(t in TAGS)).sort()];
  doc.tags = ordered.map((name) => ({ name, description: TAGS[name] ?? name }));
  return describeRequestDefaults(doc);
}

const Html = z.string().openapi({ description: "An HTML page" });

const openApiRoute = createRoute({
  method: "get",
  path: "/v1/openapi.json",
  operationId: "getOpenApiDocument",
  tags: ["Operations"],
  summary: "This OpenAPI 3.1 document",
  security: [],
  responses: {
    200: {
      content: { "application/json": { schema: z.record(z.string(), z.unknown()).openapi({ type: "object" }) } },
      description: "The document; `servers` names the origin it was requested on",
    },
  },
});

const docsRoute = createRoute({
  method: "get",
  path: "/v1/docs",
  operationId: "getDocs",
  tags: ["Operations"],
  summary: "Interactive API reference",
  description:
    "The Scalar reference of this document, with every asset served by this Worker (it works with no internet " +
    'access). Its "try it" calls this server with the Bearer key entered on the page.',
  security: [],
  responses: { 200: { content: { "text/html": { schema: Html } }, description: "The reference page" } },
});

export function buildApp() {
  const app = new OpenAPIHono<AppEnv>();
  app.openAPIRegistry.registerComponent("securitySchemes", "Bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`sk_…`; `dev-key` under `npm start`), from POST /v1/admin/keys",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", {
    type: "http",
    scheme: "bearer",
    description: "The deployment's ADMIN_TOKEN secret (`dev-admin-token` under `npm start`)",
  });

  // Once for all tenant routes: the three resource routers share this base path, and a "*"
  // middleware on each would run (and count against the rate limit) once per router.
  app.use("/v1/async/*", requireTenant);
  app.use("/v1/usage", requireTenant);
  app.use("/v1/webhooks/*", requireTenant);

  app.route("/v1/health", health);
  app.route("/v1/admin", admin);
  app.route("/v1/async/collections", collections);
  app.route("/v1/async/collections", runs);
  app.route("/v1/async/collections", jobs);
  app.route("/v1/async/collections", exportRoutes);
  app.route("/v1/async/collections", events);
  app.route("/v1/usage", usage);
  app.route("/v1/async/collections", deliveries);
  app.route("/v1/webhooks", webhookSecrets);
  registerWebhookEvents(app.openAPIRegistry);

  app.openapi(openApiRoute, (c) => c.json(openApiDocument(app, new URL(c.req.url).origin), 200));
  app.openapi(docsRoute, (c) => c.html(docsPage(), 200));
  // The reference's script, from the Worker itself: the page must work where no CDN is reachable.
  app.get(SCALAR_PATH, () => scalarScript());

  app.notFound((c) =>
    problemResponse(
      new ApiError(
        "not_found",
        `There is no route ${c.req.method} ${new URL(c.req.url).pathname}; see /v1/openapi.json.`,
      ),
    ),
  );
  app.onError(onError);
  return app;
}
