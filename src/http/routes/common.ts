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

type Headers = Record<string, { description: string; schema: { type: "string" | "integer" } }>;
const problem = (description: string, headers?: Headers) => ({
  content: { "application/problem+json": { schema: Problem } },
  description,
  ...(headers ? { headers } : {}),
});

/** Response headers, documented where the routes set them. */
export const retryAfter = {
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer" as const, minimum: 0 } },
};
export const location = {
  Location: { description: "Path of the created resource", schema: { type: "string" as const } },
};
export const replayed = {
  "Idempotent-Replayed": {
    description: "`true` when this is the stored response to an earlier request with the same Idempotency-Key",
    schema: { type: "string" as const, enum: ["true"] },
  },
};

/** Problem responses every authenticated route can give. */
export const errorResponses = {
  400: problem("Malformed request"),
  401: problem("Missing or unknown API key"),
  404: problem("Not found (or another tenant's)"),
  422: problem("Invalid input"),
  429: problem("Rate limited", retryAfter),
};
export const conflict = {
  409: problem("Conflict (e.g. Idempotency-Key in flight, job not finished)", retryAfter),
};
export const notAcceptable = { 406: problem("The Accept header rules out every type this route answers with") };
export const gone = { 410: problem("Expired") };
export const tooLarge = { 413: problem("Body over 10 MB") };
export const unavailable = { 503: problem("The configured admin token is too short (key management is off)") };

export const security = [{ Bearer: [] }];
export const adminSecurity = [{ AdminToken: [] }];

/**
 * Documents the Idempotency-Key header under its usual spelling. Only documents it: the `idempotent`
 * middleware reads and enforces the header (the validator sees header names lower-cased, so it never
 * finds this key and passes).
 */
export const IdempotencyHeaders = z.object({
  "Idempotency-Key": z
    .string()
    .min(1)
    .max(255)
    .optional()
    .openapi({
      example: "7f0c1e52-3f1a-4d1e-9a51-0b6f4c2a9e10",
      description:
        "1..255 characters, kept 24 h per tenant: a retry with the same key and body replays the first " +
        "response (with `Idempotent-Replayed: true`) and creates nothing; the same key with another body is " +
        "422; while the first request with the key is still being processed, 409 with Retry-After.",
    }),
});
