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
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UrlError("only http and https URLs can be scraped");
  if (!url.hostname) throw new UrlError("the URL has no host name");
  // The fragment never reaches the server, and keeping it would make "a#x" and "a#y" distinct jobs.
  url.hash = "";
  // Percent-encoding can make the serialised form longer than what was typed.
  if (url.href.length > MAX_URL) throw new UrlError(`the URL is longer than ${MAX_URL} characters once encoded`);
  return url.href;
}

/*
 * IP literals are judged against the IANA IPv4 and IPv6 Special-Purpose Address Registries: every
 * block whose "Globally Reachable" is not True (N/A included) is refused, the globally reachable
 * blocks nested inside a refused one are listed as exceptions (null), and the most specific block
 * wins. Beyond the registries: IPv4 multicast (a registry of its own), the deprecated site-local
 * fec0::/10, and any IPv6 address outside 2000::/3, the only space IANA allocates for global unicast.
 * Forms that carry an IPv4 destination in their last 32 bits are judged as that IPv4 address.
 */
const LOOPBACK = "loopback addresses";
const PRIVATE = "private network addresses";
const DOCUMENTATION = "documentation addresses";

/** [block, why it is refused, or null for a globally reachable block]. */
const V4_BLOCKS: [string, string | null][] = [
  ["0.0.0.0/8", 'addresses in 0.0.0.0/8 ("this network")'],
  ["10.0.0.0/8", PRIVATE],
  ["100.64.0.0/10", "carrier-grade NAT (shared address space) addresses"],
  ["127.0.0.0/8", LOOPBACK],
  ["169.254.0.0/16", "link-local addresses (which include cloud metadata endpoints)"],
  ["172.16.0.0/12", PRIVATE],
  // Includes the service-continuity, dummy and NAT64-discovery entries registered inside it.
  ["192.0.0.0/24", "IETF protocol assignment addresses"],
  ["192.0.0.9/32", null], // Port Control Protocol anycast
  ["192.0.0.10/32", null], // TURN anycast
  ["192.0.2.0/24", DOCUMENTATION],
  ["192.31.196.0/24", null], // AS112-v4
  ["192.52.193.0/24", null], // AMT
  ["192.88.99.0/24", "deprecated 6to4 relay anycast addresses"],
  ["192.168.0.0/16", PRIVATE],
  ["192.175.48.0/24", null], // Direct Delegation AS112 service
  ["198.18.0.0/15", "benchmarking network addresses"],
  ["198.51.100.0/24", DOCUMENTATION],
  ["203.0.113.0/24", DOCUMENTATION],
  ["224.0.0.0/4", "multicast addresses"],
  ["240.0.0.0/4", "reserved addresses"],
  ["255.255.255.255/32", "the broadcast address"],
];

/** An IPv6 form whose last 32 bits are an IPv4 destination; `devLoopback`: it reaches 127/8 itself. */
interface Embeds {
  embeds: string;
  devLoopback: boolean;
}

const V6_BLOCKS: [string, string | null | Embeds][] = [
  ["::/128", "the unspecified address"],
  ["::1/128", LOOPBACK],
  // IPv4-mapped is how a dual-stack socket reaches IPv4, so ::ffff:127.0.0.1 is loopback itself;
  // the other carriers are not, and local development gets no exception for them.
  ["::ffff:0:0/96", { embeds: "IPv4-mapped", devLoopback: true }],
  ["::/96", { embeds: "IPv4-compatible (deprecated)", devLoopback: false }],
  ["::ffff:0:0:0/96", { embeds: "IPv4-translated", devLoopback: false }],
  ["64:ff9b::/96", { embeds: "NAT64", devLoopback: false }],
  ["64:ff9b:1::/48", "local-use IPv4/IPv6 translation addresses"],
  ["100::/64", "discard-only IPv6 addresses"],
  ["100:0:0:1::/64", "dummy IPv6 prefix addresses"],
  ["2001::/23", "IETF protocol assignment IPv6 addresses"],
  // Teredo and 6to4 tunnel to an IPv4 host that is obfuscated or chosen by a relay: not checkable.
  ["2001::/32", "Teredo tunnel addresses"],
  ["2001:1::1/128", null], // Port Control Protocol anycast
  ["2001:1::2/128", null], // TURN anycast
  ["2001:1::3/128", null], // DNS-SD service registration protocol anycast
  ["2001:2::/48", "benchmarking IPv6 addresses"],
  ["2001:3::/32", null], // AMT
  ["2001:4:112::/48", null], // AS112-v6
  ["2001:10::/28", "deprecated ORCHID addresses"],
  ["2001:20::/28", null], // ORCHIDv2
  ["2001:30::/28", null], // Drone Remote ID Protocol entity tags
  ["2001:db8::/32", "documentation IPv6 addresses"],
  ["2002::/16", "6to4 tunnel addresses"],
  ["2620:4f:8000::/48", null], // Direct Delegation AS112 service
  ["3fff::/20", "documentation IPv6 addresses"],
  ["5f00::/16", "SRv6 segment identifiers"],
  ["fc00::/7", "unique local (private) IPv6 addresses"],
  ["fe80::/10", "link-local IPv6 addresses"],
  ["fec0::/10", "site-local IPv6 addresses (deprecated)"],
  ["ff00::/8", "multicast IPv6 addresses"],
];

/**
 * Only the dotted-quad form: the WHATWG parser has already rewritten decimal, hex, octal and short
 * notations ("2130706433", "0x7f.1", "0177.0.0.1", "127.1") to it, and anything else is a name.
 */
function parseV4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1, 5).map(Number);
  return parts.every((p) => p <= 255) ? parts.reduce((n, p) => n * 256 + p, 0) : null;
}

const v4Text = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");

/**
 * An IPv6 literal (without brackets) as a 128-bit number, or null. The WHATWG serialiser always
 * emits compressed hex, but the registry tables are written by hand, so the full text form is
 * accepted: "::" compression and a trailing dotted quad ("::ffff:10.0.0.1").
 */
function parseV6(s: string): bigint | null {
  let text = s;
  let tailV4: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.includes(".", lastColon)) {
    const quad = parseV4(text.slice(lastColon + 1));
    if (quad === null) return null;
    tailV4 = [quad >>> 16, quad & 0xffff];
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
  // Without "::" all 8 groups are given; "::" stands for at least one zero group.
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...tail];
  return groups.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

interface Block<A, W> {
  net: A;
  bits: number;
  what: W;
}

/** Parsed once, most specific first, so the first block that contains an address decides. */
function table<A, W>(rows: [string, W][], parse: (s: string) => A | null): Block<A, W>[] {
  return rows
    .map(([cidr, what]) => {
      const [addr, bits] = cidr.split("/");
      const net = parse(addr);
      if (net === null) throw new Error(`bad block ${cidr}`);
      return { net, bits: Number(bits), what };
    })
    .sort((a, b) => b.bits - a.bits);
}

const V4_TABLE = table(V4_BLOCKS, parseV4);
const V6_TABLE = table(V6_BLOCKS, parseV6);

const inV4 = (a: number, b: Block<number, unknown>) => b.bits === 0 || a >>> (32 - b.bits) === b.net >>> (32 - b.bits);
const inV6 = (a: bigint, b: Block<bigint, unknown>) => a >> BigInt(128 - b.bits) === b.net >> BigInt(128 - b.bits);

function v4Refusal(a: number, allowLoopback: boolean, shown: string): string | null {
  const what = V4_TABLE.find((b) => inV4(a, b))?.what ?? null;
  if (what === null || (what === LOOPBACK && allowLoopback)) return null;
  return `${what} cannot be scraped (${shown})`;
}

/** 2000::/3: global unicast, the only IPv6 space outside the registry that may be fetched. */
const GLOBAL_UNICAST: Block<bigint, null> = { net: 0x2n << 124n, bits: 3, what: null };

function v6Refusal(a: bigint, allowLoopback: boolean, shown: string): string | null {
  const what = V6_TABLE.find((b) => inV6(a, b))?.what;
  if (what === undefined) {
    return inV6(a, GLOBAL_UNICAST) ? null : `reserved IPv6 addresses (outside 2000::/3) cannot be scraped (${shown})`;
  }
  if (what === null || (what === LOOPBACK && allowLoopback)) return null;
  if (typeof what === "string") return `${what} cannot be scraped (${shown})`;
  const v4 = Number(a & 0xffffffffn);
  return v4Refusal(v4, allowLoopback && what.devLoopback, `${v4Text(v4)} inside ${what.embeds} ${shown}`);
}

/**
 * The host as the network will see it. Trailing dots name the same DNS host ("localhost." is
 * localhost), but the URL parser drops only one before it reads IPv4 numbers, so "0x7f.1.." stays
 * a name: strip them all and parse the host again, so every spelling of an address is an address.
 */
function canonicalHost(u: URL): string | null {
  const host = u.hostname.toLowerCase();
  const stripped = host.replace(/\.+$/, "");
  if (stripped === host || stripped === "") return stripped;
  try {
    return new URL(`http://${stripped}/`).hostname;
  } catch {
    return null;
  }
}

/** Special-use names that never lead to the public web; metadata.google.internal is under ".internal". */
const INTERNAL_SUFFIXES = ["internal", "local", "home.arpa"];

/**
 * Why a URL may not be fetched, or null when it may. allowLoopback=true (local development only)
 * permits loopback hosts (localhost, 127.0.0.0/8, ::1) but still refuses the others. Only the URL
 * is judged: a name is not resolved here (README, "Targets").
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
  if (u.protocol !== "http:" && u.protocol !== "https:")
    return `only http and https URLs can be scraped (not ${u.protocol})`;
  if (u.username || u.password) return "credentials in URLs are not allowed; remove the user name and password";

  const host = canonicalHost(u);
  if (host === null) return `not a valid host name (${u.hostname})`;
  if (!host) return "the URL has no host name";

  if (host.startsWith("[")) {
    const a = host.endsWith("]") ? parseV6(host.slice(1, -1)) : null;
    return a === null ? `not a valid IPv6 address (${host})` : v6Refusal(a, opts.allowLoopback, host);
  }
  const v4 = parseV4(host);
  if (v4 !== null) return v4Refusal(v4, opts.allowLoopback, v4Text(v4));

  if (host === "localhost" || host.endsWith(".localhost")) {
    return opts.allowLoopback ? null : `localhost cannot be scraped (${host})`;
  }
  if (INTERNAL_SUFFIXES.some((s) => host === s || host.endsWith(`.${s}`))) {
    return `internal host names cannot be scraped (${host})`;
  }
  return null;
}
