/**
 * Target URL normalisation and the SSRF guard. Pure functions: the collection route, the fetch
 * loop (on every redirect hop) and the browser's request interception all ask the same question,
 * so they must get the same answer.
 */

export class UrlError extends Error {
  override name = "UrlError";
}

/** A scheme followed by "//". Plain `scheme:` is not enough: "localhost:8080/x" would count. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Anything that looks like `scheme:`, to tell "mailto:a@b" (refuse) from a bare "host:port". */
const SCHEME_LIKE = /^([a-z][a-z0-9+.-]*):/i;
/** "localhost:8080", "example.com:443/x": a host and a port, not a scheme. */
const HOST_PORT = /^[^:/?#@\s]+:\d*(?:[/?#]|$)/;
const MAX_URL = 8_192;

/**
 * Normalises a user-supplied target: trims, adds https:// when there is no scheme
 * ("www.google.com" -> "https://www.google.com/"), returns the WHATWG-serialised href,
 * or throws UrlError with a human sentence.
 */
export function normalizeTargetUrl(raw: string): string {
  const s = raw.trim();
  if (!s) throw new UrlError("the URL is empty");
  // Checked before parsing too, so a huge string is not worth a parse.
  if (s.length > MAX_URL) throw new UrlError(`the URL is longer than ${MAX_URL} characters`);

  let candidate: string;
  if (SCHEME.test(s)) {
    candidate = s;
  } else {
    const scheme = SCHEME_LIKE.exec(s);
    if (scheme && !HOST_PORT.test(s)) {
      // "http:example.com" is what a person meant as http://example.com; "javascript:..." is not a page.
      if (!/^https?$/i.test(scheme[1])) throw new UrlError("only http and https URLs can be scraped");
      candidate = s;
    } else {
      candidate = `https://${s}`;
    }
  }

  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new UrlError(`"${s.length > 200 ? `${s.slice(0, 200)}…` : s}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UrlError("only http and https URLs can be scraped");
  if (!url.hostname) throw new UrlError("the URL has no host name");
  // The fragment never reaches the server, and keeping it would make "a#x" and "a#y" distinct jobs.
  url.hash = "";
  // Percent-encoding can make the serialised form longer than what was typed.
  if (url.href.length > MAX_URL) throw new UrlError(`the URL is longer than ${MAX_URL} characters once encoded`);
  return url.href;
}

type V4 = [number, number, number, number];

/**
 * Only the dotted-quad form: the WHATWG parser has already rewritten decimal, hex, octal and short
 * notations ("2130706433", "0x7f.1", "0177.0.0.1", "127.1") to it, and anything else is a name.
 */
function parseV4(s: string): V4 | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] as V4;
  return parts.every((p) => p <= 255) ? parts : null;
}

const v4Text = (a: V4) => a.join(".");

/** What kind of non-public address this is, or null for a public one; loopback is reported apart so callers can allow it. */
function v4Class(a: V4): string | null {
  const [x, y, z] = a;
  if (x === 127) return "loopback";
  if (x === 0) return 'addresses in 0.0.0.0/8 ("this network")';
  if (x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168)) return "private network addresses";
  if (x === 100 && y >= 64 && y <= 127) return "carrier-grade NAT addresses";
  if (x === 169 && y === 254) return "link-local addresses (which include cloud metadata endpoints)";
  if (x === 192 && y === 0 && z === 0) return "IETF protocol assignment addresses";
  if (x === 198 && (y === 18 || y === 19)) return "benchmarking network addresses";
  if (x >= 224 && x <= 239) return "multicast addresses";
  if (a.every((p) => p === 255)) return "the broadcast address";
  if (x >= 240) return "reserved addresses";
  return null;
}

function v4Refusal(a: V4, allowLoopback: boolean, shown: string): string | null {
  const kind = v4Class(a);
  if (!kind) return null;
  if (kind === "loopback") return allowLoopback ? null : `loopback addresses cannot be scraped (${shown})`;
  return `${kind} cannot be scraped (${shown})`;
}

/**
 * An IPv6 literal (without brackets) as 8 16-bit groups, or null. The WHATWG serialiser always
 * emits compressed hex, but a URL object can come from anywhere, so the full text form is accepted:
 * "::" compression and a trailing dotted quad ("::ffff:10.0.0.1").
 */
function parseV6(s: string): number[] | null {
  let text = s;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.includes(".", lastColon)) {
    const quad = parseV4(text.slice(lastColon + 1));
    if (!quad) return null;
    tailV4 = [(quad[0] << 8) | quad[1], (quad[2] << 8) | quad[3]];
    // Keep the colon when it is half of "::" so "::1.2.3.4" still reads as compressed.
    text = text.slice(0, text[lastColon - 1] === ":" ? lastColon + 1 : lastColon);
  }

  const halves = text.split("::");
  if (halves.length > 2) return null;
  const toGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = toGroups(halves[0]);
  const tail = halves.length === 2 ? toGroups(halves[1]) : [];
  if (!head || !tail) return null;
  tail.push(...tailV4);

  const given = head.length + tail.length;
  if (halves.length === 1) return given === 8 ? head.concat(tail) : null;
  // "::" stands for at least one zero group.
  if (given > 7) return null;
  return [...head, ...new Array<number>(8 - given).fill(0), ...tail];
}

function v6Refusal(g: number[], allowLoopback: boolean, shown: string): string | null {
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  const lastV4 = (): V4 => [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255];
  const via = (a: V4) => `${v4Text(a)} inside ${shown}`;

  if (zeroUpTo(8)) return `the unspecified address cannot be scraped (${shown})`;
  if (zeroUpTo(7) && g[7] === 1) return allowLoopback ? null : `loopback addresses cannot be scraped (${shown})`;
  // IPv4-mapped ::ffff:a.b.c.d is how dual-stack sockets reach IPv4, so it is the same host as a.b.c.d.
  if (zeroUpTo(5) && g[5] === 0xffff) return v4Refusal(lastV4(), allowLoopback, via(lastV4()));
  // IPv4-compatible ::a.b.c.d and NAT64 64:ff9b::a.b.c.d also carry an IPv4 destination, but are
  // not loopback even when that destination is, so local development gets no exception for them.
  if (zeroUpTo(6) || (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))) {
    return v4Refusal(lastV4(), false, via(lastV4()));
  }
  // 6to4 (2002:AABB:CCDD::/16) embeds its relay's IPv4 address in groups 1-2; not in the brief, but it
  // is the same trick, and a public IPv4 inside it stays allowed.
  if (g[0] === 0x2002) {
    const a: V4 = [g[1] >> 8, g[1] & 255, g[2] >> 8, g[2] & 255];
    return v4Refusal(a, false, via(a));
  }
  if ((g[0] & 0xfe00) === 0xfc00) return `unique local (private) IPv6 addresses cannot be scraped (${shown})`;
  if ((g[0] & 0xffc0) === 0xfe80) return `link-local IPv6 addresses cannot be scraped (${shown})`;
  if ((g[0] & 0xff00) === 0xff00) return `multicast IPv6 addresses cannot be scraped (${shown})`;
  return null;
}

/**
 * Why a URL may not be fetched, or null when it may. allowLoopback=true (local development only)
 * permits loopback hosts (localhost, 127.0.0.0/8, ::1) but still refuses the others.
 */
export function targetRefusal(url: string | URL, opts: { allowLoopback: boolean }): string | null {
  let u: URL;
  if (typeof url === "string") {
    try {
      u = new URL(url);
    } catch {
      return "not a valid URL";
    }
  } else {
    u = url;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `only http and https URLs can be scraped (not ${u.protocol})`;
  if (u.username || u.password) return "credentials in URLs are not allowed; remove the user name and password";

  // Trailing dots name the same DNS host ("localhost." is localhost), so they must not dodge the checks.
  const host = u.hostname.toLowerCase().replace(/\.+$/, "");
  if (!host) return "the URL has no host name";

  if (host.startsWith("[")) {
    const groups = host.endsWith("]") ? parseV6(host.slice(1, -1)) : null;
    return groups ? v6Refusal(groups, opts.allowLoopback, host) : `not a valid IPv6 address (${host})`;
  }
  const v4 = parseV4(host);
  if (v4) return v4Refusal(v4, opts.allowLoopback, v4Text(v4));

  if (host === "localhost" || host.endsWith(".localhost")) {
    return opts.allowLoopback ? null : `localhost cannot be scraped (${host})`;
  }
  // metadata.google.internal falls under ".internal".
  if (host === "internal" || host.endsWith(".internal") || host === "local" || host.endsWith(".local")) {
    return `internal host names cannot be scraped (${host})`;
  }
  return null;
}
