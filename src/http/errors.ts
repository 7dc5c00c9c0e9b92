import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { CursorError } from "./cursor";

/**
 * The one error type of the API, rendered as RFC 9457 problem details. Every 4xx the API returns
 * is an ApiError; anything else reaching onError is a bug and becomes a 500 without internals.
 */
export type ProblemCode =
  | "bad_request"
  | "unauthorized"
  | "not_found"
  | "not_acceptable"
  | "conflict"
  | "gone"
  | "payload_too_large"
  | "unsupported_media_type"
  | "validation_failed"
  | "rate_limited"
  | "internal"
  | "unavailable";

const STATUS: Record<ProblemCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  not_found: 404,
  not_acceptable: 406,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

const TITLE: Record<ProblemCode, string> = {
  bad_request: "Malformed request",
  unauthorized: "Unauthorized",
  not_found: "Not found",
  not_acceptable: "Not acceptable",
  conflict: "Conflict",
  gone: "Gone",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  validation_failed: "Validation failed",
  rate_limited: "Too many requests",
  internal: "Internal error",
  unavailable: "Service unavailable",
};

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.status = STATUS[code];
  }
}

export const notFound = (what: string) => new ApiError("not_found", `${what} was not found.`);

/** The problem details object of an error (also written inside a stream that fails after its headers went out). */
export function problemBody(err: ApiError): Record<string, unknown> {
  const body: Record<string, unknown> = {
    type: `https://scrape-api.dev/problems/${err.code.replaceAll("_", "-")}`,
    title: TITLE[err.code],
    status: err.status,
    detail: err.detail,
  };
  if (err.options.errors?.length) body.errors = err.options.errors;
  return body;
}

export function problemResponse(err: ApiError): Response {
  const body = problemBody(err);
  return new Response(JSON.stringify(body), {
    status: err.status,
    headers: { "content-type": "application/problem+json", ...err.options.headers },
  });
}

/** Maps whatever was thrown to a problem response; never leaks a stack or an internal message. */
export function toProblem(err: unknown): Response {
  if (err instanceof ApiError) return problemResponse(err);
  if (err instanceof CursorError) {
    const detail = "The cursor is not valid for this listing; pass `cursor_next` from the previous page unchanged.";
    return problemResponse(new ApiError("bad_request", detail));
  }
  if (err instanceof HTTPException) {
    // Hono raises these for malformed JSON bodies (400) and unsupported content types (415).
    const code: ProblemCode =
      err.status === 415
        ? "unsupported_media_type"
        : err.status === 413
          ? "payload_too_large"
          : err.status === 401
            ? "unauthorized"
            : "bad_request";
    const detail =
      code === "bad_request"
        ? "The request body is not valid JSON."
        : code === "unsupported_media_type"
          ? "Send the body as JSON with `Content-Type: application/json`."
          : err.message;
    return problemResponse(new ApiError(code, detail));
  }
  console.error("unhandled error", err);
  return problemResponse(new ApiError("internal", "Something went wrong on our side; retry the request."));
}

export const onError = (err: unknown, _c: Context) => toProblem(err);
