import { OpenAPIHono } from "@hono/zod-openapi";
import { requireTenant, type AppEnv } from "./middleware/auth";
import { ApiError, onError, problemResponse } from "./errors";
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

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Scrape API",
    version: "1.0.0",
    description:
      "Asynchronous scraping: store a collection of page requests, start a run, poll its live counters, " +
      "page through its jobs and results.",
  },
};

export function buildApp() {
  const app = new OpenAPIHono<AppEnv>();
  app.openAPIRegistry.registerComponent("securitySchemes", "Bearer", { type: "http", scheme: "bearer" });

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

  app.doc31("/v1/openapi.json", OPENAPI_INFO);
  app.get("/v1/docs", (c) =>
    c.html(`<!doctype html><html><head><title>Scrape API</title><meta charset="utf-8"></head>
<body><h1>Scrape API</h1><p>The OpenAPI 3.1 document is at <a href="/v1/openapi.json">/v1/openapi.json</a>;
load it in any OpenAPI viewer.</p></body></html>`),
  );

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
