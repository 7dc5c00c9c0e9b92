import { createRoute } from "@hono/zod-openapi";
import { Health } from "../../schemas";
import { router } from "./common";

export const health = router();

health.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "health",
    tags: ["Operations"],
    summary: "Liveness (no auth)",
    security: [],
    responses: { 200: { content: { "application/json": { schema: Health } }, description: "OK" } },
  }),
  (c) => c.json({ status: "ok" as const }, 200),
);
