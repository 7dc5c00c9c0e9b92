/**
 * Target URL normalisation and the SSRF guard. Pure functions: the collection route, the fetch
 * loop (on every redirect hop) and the browser's request interception all ask the same question.
 */
export class UrlError extends Error {}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const MAX_URL = 8_192;

/** "www.google.com" → "https://www.google.com/"; only http(s); the fragment is dropped. */
export function normalizeTargetUrl(raw: string): string {
  const s = raw.trim();
  if (!s) throw new UrlError("the URL is empty");
  if (s.length > MAX_URL) throw new UrlError(`the URL is longer than ${MAX_URL} characters`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) && !SCHEME.test(s) && !/^[^:/]+:\d+(\/|$)/.test(s)) {
    throw new UrlError("only http and https URLs can be scraped");
  }
  const withScheme = SCHEME.test(s) ? s : `https://${s}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UrlError("not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UrlError("only http and https URLs can be scraped");
  if (!url.hostname) throw new UrlError("the URL has no host");
  url.hash = "";
  return url.href;
}

type V4 = [number, number, number, number];

function parseV4(host: string): V4 | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number) as V4;
  return parts.every((p) => p <= 255) ? parts : null;
}

/** A reason the IPv4 address must not be fetched, or null. */
function v4Refusal(a: V4, allowLoopback: boolean): string | null {
  const [x, y] = a;
  if (x === 127) return allowLoopback ? null : "loopback addresses cannot be scraped";
  if (x === 0) return "the 0.0.0.0/8 network cannot be scraped";
  if (x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168)) return "private network addresses cannot be scraped";
  if (x === 100 && y >= 64 && y <= 127) return "carrier-grade NAT addresses cannot be scraped";
  if (x === 169 && y === 254) return "link-local and cloud metadata addresses cannot be scraped";
  if (x === 192 && y === 0 && a[2] === 0) return "IETF protocol addresses cannot be scraped";
  if (x === 198 && (y === 18 || y === 19)) return "benchmarking addresses cannot be scraped";
  if (x >= 224) return "multicast and reserved addresses cannot be scraped";
  return null;
}

/**
 * Parses a bracket-less IPv6 literal into 8 groups, or null. Hostnames come from the WHATWG
 * serialiser, which always writes IPv6 in hex groups (an embedded dotted quad becomes two groups).
 */
function parseV6(s: string): number[] | null {
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const total = head.length + tail.length;
  if ([...head, ...tail].some(Number.isNaN) || total > 8 || (halves.length === 1 && total !== 8)) return null;
  return [...head, ...new Array(8 - total).fill(0), ...tail];
}

function v6Refusal(g: number[], allowLoopback: boolean): string | null {
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroPrefix(8)) return "the unspecified address cannot be scraped";
  if (zeroPrefix(7) && g[7] === 1) return allowLoopback ? null : "loopback addresses cannot be scraped";
  const embedded = (): V4 => [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255];
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
  if ((zeroPrefix(5) && g[5] === 0xffff) || zeroPrefix(6) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))) {
    return v4Refusal(embedded(), allowLoopback);
  }
  if ((g[0] & 0xfe00) === 0xfc00) return "private (unique local) IPv6 addresses cannot be scraped";
  if ((g[0] & 0xffc0) === 0xfe80) return "link-local IPv6 addresses cannot be scraped";
  if ((g[0] & 0xff00) === 0xff00) return "multicast IPv6 addresses cannot be scraped";
  return null;
}

/**
 * Why the URL may not be fetched, or null. The WHATWG parser has already turned decimal, hex,
 * octal and short IPv4 notations into dotted quads, so checking the parsed hostname covers them.
 */
export function targetRefusal(input: string | URL, opts: { allowLoopback: boolean }): string | null {
  let url: URL;
  try {
    url = typeof input === "string" ? new URL(input) : input;
  } catch {
    return "not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "only http and https URLs can be scraped";
  if (url.username || url.password) return "credentials in URLs are not allowed";
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (!host) return "the URL has no host";
  if (host === "localhost" || host.endsWith(".localhost")) return opts.allowLoopback ? null : "localhost cannot be scraped";
  if (host.endsWith(".internal") || host.endsWith(".local") || host === "internal" || host === "local") return "internal host names cannot be scraped";
  if (host.startsWith("[")) {
    const groups = parseV6(host.slice(1, -1));
    return groups ? v6Refusal(groups, opts.allowLoopback) : "not a valid IPv6 address";
  }
  const v4 = parseV4(host);
  if (v4) return v4Refusal(v4, opts.allowLoopback);
  return null;
}
