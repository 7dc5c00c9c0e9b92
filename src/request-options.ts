/**
 * What a request may carry to the target site (API.md "Request options and politeness"): extra
 * headers, cookies, a user agent, and the browser-only device, wait condition and blocked resource
 * types. Pure functions, shared by the request schema (what is accepted), the fetcher (what each
 * redirect hop gets) and the browser guard (which of a page's requests get the headers).
 *
 * The scope rule, one for both modes: headers, cookies and the user agent go only to the request
 * URL's own host (the exact host name, any port, as cookies are scoped), never to another host a
 * redirect or the page leads to, and never from an https request down to plain http. A host, not
 * the registrable domain: telling "example.co.uk" from "co.uk" needs the public suffix list, and
 * two hosts of one domain are often run by different parties (a CDN, a shared-hosting suffix).
 */

export const DEVICES = ["desktop", "mobile"] as const;
export type Device = (typeof DEVICES)[number];
export const WAIT_UNTIL = ["load", "domcontentloaded", "networkidle0", "networkidle2"] as const;
export type WaitUntil = (typeof WAIT_UNTIL)[number];
export const RESOURCE_TYPES = ["image", "font", "media", "stylesheet"] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export interface RequestCookie {
  name: string;
  value: string;
  /** Absent: a host-only cookie of the request URL's host. */
  domain?: string;
  /** Absent: "/". */
  path?: string;
}

export const HEADER_LIMITS = { maxHeaders: 50, maxHeaderBytes: 16 * 1024, maxCookies: 50, maxCookieBytes: 4096 };
export const MAX_USER_AGENT = 512;

/** RFC 9110 token (was RFC 7230 §3.2.6): the characters a header or cookie name may have. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: what both fetch() and Chrome send unchanged in a header value. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
/** RFC 6265 §4.1.1 cookie-value: cookie-octets, optionally in double quotes. */
const COOKIE_VALUE = /^(?:"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"|[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*)$/;
/** RFC 6265 §4.1.1 path-value: any CHAR but controls and ";". */
const COOKIE_PATH = /^\/[\x20-\x3a\x3c-\x7e]{0,1023}$/;
const DOMAIN_LABELS = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Headers a request may not set. Host and the framing headers belong to the HTTP client (a wrong
 * one breaks or smuggles the request), the hop-by-hop ones (RFC 9110 §7.6.1) to the connection,
 * Proxy-* to proxies; Cookie and User-Agent have their own fields, which both modes honour.
 */
const FORBIDDEN: Record<string, string> = {
  host: "the host comes from the URL",
  "content-length": "set by the HTTP client",
  "transfer-encoding": "set by the HTTP client",
  connection: "a hop-by-hop header, set by the HTTP client",
  "keep-alive": "a hop-by-hop header, set by the HTTP client",
  upgrade: "a hop-by-hop header, set by the HTTP client",
  te: "a hop-by-hop header, set by the HTTP client",
  trailer: "a hop-by-hop header, set by the HTTP client",
  cookie: "put cookies in `cookies`",
  "user-agent": "set `user_agent` instead",
};

const utf8 = new TextEncoder();
const bytes = (s: string) => utf8.encode(s).byteLength;

/** Why a header may not be sent, or null. Names are compared case-insensitively. */
export function headerProblem(name: string, value: string): string | null {
  if (!TOKEN.test(name)) return "a header name is an RFC 9110 token (letters, digits and !#$%&'*+-.^_`|~)";
  const lower = name.toLowerCase();
  const why = FORBIDDEN[lower] ?? (lower.startsWith("proxy-") ? "Proxy-* headers are for proxies" : undefined);
  if (why) return `${name} cannot be set: ${why}`;
  if (/[\r\n\0]/.test(value)) return "a header value cannot contain CR, LF or NUL";
  if (!FIELD_VALUE.test(value)) return "a header value is printable ASCII (tab allowed); percent-encode other text";
  return null;
}

/** UTF-8 bytes of the headers' names and values together (the 16 KB cap). */
export const headersBytes = (headers: Record<string, string>) =>
  Object.entries(headers).reduce((n, [k, v]) => n + bytes(k) + bytes(v), 0);

/** Why a user agent may not be sent, or null. */
export function userAgentProblem(ua: string): string | null {
  if (/[\r\n\0]/.test(ua)) return "a user agent cannot contain CR, LF or NUL";
  return FIELD_VALUE.test(ua) ? null : "a user agent is printable ASCII";
}

/** A cookie domain as stored: lower case, without the leading dot RFC 6265 §5.2.3 ignores. */
export const cookieDomain = (domain: string) => domain.replace(/^\./, "").toLowerCase();

/** RFC 6265 §5.1.3: the host is the domain, or a name under it (never for an IP address). */
export function domainMatches(host: string, domain: string): boolean {
  const h = host.toLowerCase();
  const d = cookieDomain(domain);
  if (h === d) return true;
  return h.endsWith(`.${d}`) && !isIpLiteral(h);
}

const isIpLiteral = (host: string) => host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);

/** RFC 6265 §5.1.4: the request path is the cookie path or below it. */
export function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

/**
 * Problems of one cookie of a request to `host`, each with the field it is about. A domain must
 * match the host, and be more than one label unless it is the host itself: a cookie for "com"
 * would be sent to every .com site a browser visits.
 */
export function cookieProblems(c: RequestCookie, host: string): { field: keyof RequestCookie; message: string }[] {
  const out: { field: keyof RequestCookie; message: string }[] = [];
  if (!TOKEN.test(c.name)) out.push({ field: "name", message: "a cookie name is an RFC 6265 token" });
  if (!COOKIE_VALUE.test(c.value)) {
    const message =
      "a cookie value has no spaces, controls, quotes (except around it), commas, semicolons or backslashes";
    out.push({ field: "value", message });
  } else if (bytes(c.name) + bytes(c.value) > HEADER_LIMITS.maxCookieBytes) {
    out.push({
      field: "value",
      message: `a cookie's name and value are at most ${HEADER_LIMITS.maxCookieBytes} bytes`,
    });
  }
  if (c.domain !== undefined) {
    const d = cookieDomain(c.domain);
    if (!DOMAIN_LABELS.test(d) && !isIpLiteral(d)) out.push({ field: "domain", message: "not a valid domain" });
    else if (!domainMatches(host, d))
      out.push({ field: "domain", message: `"${d}" does not match the request's host ${host}` });
    else if (d !== host.toLowerCase() && !d.includes("."))
      out.push({ field: "domain", message: `"${d}" is a top-level domain; use the host or a domain under it` });
  }
  if (c.path !== undefined && !COOKIE_PATH.test(c.path))
    out.push({
      field: "path",
      message: 'a cookie path starts with "/", has no ";" or controls, at most 1,024 characters',
    });
  return out;
}

/** The scope rule of this module's header: does a hop (or a page's request) get the request's options? */
export function sameSite(requestUrl: URL, hop: URL): boolean {
  if (hop.hostname.toLowerCase() !== requestUrl.hostname.toLowerCase()) return false;
  return !(requestUrl.protocol === "https:" && hop.protocol === "http:");
}

/** The Cookie header for `hop`: the cookies whose domain and path match it, longest path first (RFC 6265 §5.4). */
export function cookieHeader(cookies: readonly RequestCookie[], requestUrl: URL, hop: URL): string | null {
  const host = hop.hostname.toLowerCase();
  const sent = cookies
    .filter((c) =>
      c.domain === undefined ? host === requestUrl.hostname.toLowerCase() : domainMatches(host, c.domain),
    )
    .filter((c) => pathMatches(hop.pathname, c.path ?? "/"))
    .sort((a, b) => (b.path ?? "/").length - (a.path ?? "/").length);
  return sent.length ? sent.map((c) => `${c.name}=${c.value}`).join("; ") : null;
}

/** What a spec says to send, as the fetcher reads it. */
export interface SentOptions {
  headers?: Record<string, string>;
  cookies?: RequestCookie[];
  user_agent?: string;
}

/**
 * The headers of one fetch-mode hop: the defaults, and on a same-site hop the request's user
 * agent, headers (which replace a default of the same name) and matching cookies.
 */
export function hopHeaders(defaults: Record<string, string>, o: SentOptions, requestUrl: URL, hop: URL): Headers {
  const h = new Headers(defaults);
  if (!sameSite(requestUrl, hop)) return h;
  if (o.user_agent) h.set("user-agent", o.user_agent);
  for (const [k, v] of Object.entries(o.headers ?? {})) h.set(k, v);
  const cookie = o.cookies ? cookieHeader(o.cookies, requestUrl, hop) : null;
  if (cookie) h.set("cookie", cookie);
  return h;
}

/** The browser's viewport and, for mobile, the user agent a page sees when the request names none. */
export const DEVICE_PROFILES: Record<
  Device,
  { width: number; height: number; deviceScaleFactor: number; isMobile: boolean; hasTouch: boolean; ua?: string }
> = {
  desktop: { width: 1280, height: 800, deviceScaleFactor: 1, isMobile: false, hasTouch: false },
  // An iPhone 14's CSS viewport and pixel ratio, with its Safari's user agent: sites that serve a
  // mobile layout by user agent expect the two together.
  mobile: {
    width: 390,
    height: 844,
    deviceScaleFactor: 3,
    isMobile: true,
    hasTouch: true,
    ua:
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " +
      "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  },
};

/** Chrome's CDP resource types (Network.ResourceType) for each type a request can block. */
export const CDP_RESOURCE_TYPES: Record<ResourceType, string> = {
  image: "Image",
  font: "Font",
  media: "Media",
  stylesheet: "Stylesheet",
};
