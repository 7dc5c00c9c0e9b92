import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../middleware/auth";
import { ApiError, type FieldError } from "../errors";
import { Problem } from "../../schemas";

/** zod issue path → "requests[3].actions[1].selector" */
export function issuePath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)),
    "",
  );
}

export function validationError(issues: z.core.$ZodIssue[], where: string): ApiError {
  const errors: FieldError[] = issues.slice(0, 50).map((i) => ({ path: issuePath(i.path), message: i.message }));
  const first = errors[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? "s" : ""})` : "";
  return new ApiError("validation_failed", `Invalid ${where}: ${first.path || "value"}: ${first.message}${more}.`, {
    errors,
  });
}

/** A router whose validation failures are problem+json 422s naming the failing field. */
export const router = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success)
        throw validationError(
          result.error.issues,
          result.target === "json" ? "request body" : result.target === "query" ? "query" : "path",
        );
    },
  });

const problem = (description: string) => ({
  content: { "application/problem+json": { schema: Problem } },
  description,
});

/** Problem responses every authenticated route can give. */
export const errorResponses = {
  400: problem("Malformed request"),
  401: problem("Missing or unknown API key"),
  404: problem("Not found (or another tenant's)"),
  422: problem("Invalid input"),
  429: problem("Rate limited"),
};
export const conflict = { 409: problem("Conflict (e.g. Idempotency-Key in flight, job not finished)") };
export const notAcceptable = { 406: problem("The Accept header rules out every type this route answers with") };
export const gone = { 410: problem("Expired") };
export const tooLarge = { 413: problem("Body over 10 MB") };
export const unavailable = { 503: problem("The configured admin token is too short (key management is off)") };

export const security = [{ Bearer: [] }];

/** Documents the Idempotency-Key header; the `idempotent` middleware enforces it. */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .optional()
    .openapi({
      description:
        "Idempotency-Key: 1..255 characters, kept 24 h per tenant; " +
        "a retry with the same key and body replays the first response",
    }),
});
