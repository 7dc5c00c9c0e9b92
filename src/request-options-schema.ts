/**
 * Request fields of API.md "Request options and politeness", as zod pieces for the request schema,
 * and the checks that need the whole request (the URL's host, browser or not). Every refusal names
 * its field (requests[i].headers.<name>, requests[i].cookies[j].domain, ...), so nothing is created
 * from a request the fetchers could not honour.
 */
import { z } from "@hono/zod-openapi";
import {
  cookieDomain,
  cookieProblems,
  DEVICES,
  HEADER_LIMITS,
  headerProblem,
  headersBytes,
  MAX_USER_AGENT,
  type RequestCookie,
  RESOURCE_TYPES,
  userAgentProblem,
  WAIT_UNTIL,
} from "./request-options";

const SCOPE =
  "Sent only to the request URL's own host (any port; never to another host a redirect or the page leads to, " +
  "and not from https down to http).";

export const RequestCookieSchema = z
  .object({
    name: z.string().min(1).max(256),
    value: z.string().max(HEADER_LIMITS.maxCookieBytes),
    domain: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .openapi({ description: "The request's host or a domain above it; absent: a host-only cookie of the host" }),
    path: z.string().max(1_024).optional().openapi({ description: 'Starts with "/"; default "/"' }),
  })
  .strict()
  .openapi("RequestCookie", { description: "A cookie sent with the request (RFC 6265 name and value)" });

/** The six request fields, to spread into the request object schema. */
export const requestOptionsShape = {
  headers: z
    .record(z.string(), z.string())
    .optional()
    .openapi({
      description:
        `Extra request headers, at most ${HEADER_LIMITS.maxHeaders} and ${HEADER_LIMITS.maxHeaderBytes / 1024} KB ` +
        "(names and values, UTF-8). Not Host, Content-Length, Transfer-Encoding, hop-by-hop headers, Proxy-*, " +
        `Cookie (use cookies) or User-Agent (use user_agent). ${SCOPE}`,
      example: { Authorization: "Bearer …", "Accept-Language": "de-DE" },
    }),
  cookies: z
    .array(RequestCookieSchema)
    .max(HEADER_LIMITS.maxCookies)
    .optional()
    .openapi({
      description:
        `At most ${HEADER_LIMITS.maxCookies} cookies, in both modes. Fetch: sent on each redirect hop to the ` +
        "request's host whose path matches. Browser: set in the job's own browser context, where the browser " +
        "sends them by their domain and path.",
    }),
  user_agent: z
    .string()
    .min(1)
    .max(MAX_USER_AGENT)
    .optional()
    .openapi({ description: `User-Agent for the request (both modes; browser: also navigator.userAgent). ${SCOPE}` }),
  device: z
    .enum(DEVICES)
    .optional()
    .openapi({
      description:
        'Browser only; default "desktop" (1280×800). "mobile": 390×844 at device scale factor 3, touch, ' +
        "and an iPhone Safari user agent unless user_agent is given",
    }),
  wait_until: z.enum(WAIT_UNTIL).optional().openapi({
    description: 'Browser only; when navigation counts as done before the actions run; default "load"',
  }),
  block_resources: z
    .array(z.enum(RESOURCE_TYPES))
    .max(RESOURCE_TYPES.length)
    .refine((types) => new Set(types).size === types.length, { message: "block_resources must not repeat" })
    .optional()
    .openapi({ description: "Browser only; resource types the page does not download (refused before the network)" }),
};

type WithOptions = {
  browser: boolean;
  headers?: Record<string, string>;
  cookies?: RequestCookie[];
  user_agent?: string;
  device?: string;
  wait_until?: string;
  block_resources?: string[];
};

/**
 * The checks across fields, for the request's superRefine. `host` is the request URL's host, or
 * null when the URL itself is invalid (its own issue says so; cookie domains are then not judged).
 */
export function checkRequestOptions(r: WithOptions, host: string | null, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  if (r.headers) {
    const names = Object.keys(r.headers);
    if (names.length > HEADER_LIMITS.maxHeaders) issue(["headers"], `at most ${HEADER_LIMITS.maxHeaders} headers`);
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(r.headers)) {
      const problem = headerProblem(name, value);
      if (problem) issue(["headers", name], problem);
      else if (seen.has(name.toLowerCase())) issue(["headers", name], "the same header twice (names ignore case)");
      seen.add(name.toLowerCase());
    }
    const size = headersBytes(r.headers);
    if (size > HEADER_LIMITS.maxHeaderBytes)
      issue(["headers"], `${size} bytes of names and values; at most ${HEADER_LIMITS.maxHeaderBytes} (UTF-8)`);
  }
  if (r.cookies && host !== null) {
    const seen = new Set<string>();
    r.cookies.forEach((c, i) => {
      for (const p of cookieProblems(c, host)) issue(["cookies", i, p.field], p.message);
      const key = `${c.name}\u0000${c.domain === undefined ? "" : cookieDomain(c.domain)}\u0000${c.path ?? "/"}`;
      if (seen.has(key)) issue(["cookies", i], "the same cookie (name, domain and path) twice");
      seen.add(key);
    });
  }
  if (r.user_agent !== undefined) {
    const problem = userAgentProblem(r.user_agent);
    if (problem) issue(["user_agent"], problem);
  }
  if (!r.browser) {
    for (const field of ["device", "wait_until", "block_resources"] as const) {
      if (r[field] !== undefined) issue([field], `${field} needs browser: true`);
    }
  }
}
