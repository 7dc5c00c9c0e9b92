import { describe, expect, it } from "vitest";
import {
  cookieHeader,
  cookieProblems,
  domainMatches,
  headerProblem,
  headersBytes,
  hopHeaders,
  pathMatches,
  sameSite,
  userAgentProblem,
} from "../../src/request-options";

describe("headerProblem", () => {
  it.each([
    ["Authorization", "Bearer abc"],
    ["X-Api-Key", "k"],
    ["accept-language", "de-DE,de;q=0.9"],
    ["X-Empty", ""],
    ["X-Tab", "a\tb"],
    ["!#$%&'*+-.^_`|~", "token characters"],
    ["Proxyish", "not a Proxy- header"],
  ])("%j: %j is allowed", (name, value) => {
    expect(headerProblem(name, value)).toBeNull();
  });

  it.each([
    ["Host", "x", /Host cannot be set/],
    ["HOST", "x", /cannot be set/],
    ["content-length", "1", /cannot be set/],
    ["Transfer-Encoding", "chunked", /cannot be set/],
    ["Connection", "close", /hop-by-hop/],
    ["Keep-Alive", "1", /hop-by-hop/],
    ["Upgrade", "h2c", /hop-by-hop/],
    ["TE", "trailers", /hop-by-hop/],
    ["Trailer", "x", /hop-by-hop/],
    ["Proxy-Authorization", "x", /Proxy-\*/],
    ["proxy-connection", "x", /Proxy-\*/],
    ["Cookie", "a=b", /cookies/],
    ["User-Agent", "x", /user_agent/],
    ["Bad Name", "x", /token/],
    ["", "x", /token/],
    ["X-Ü", "x", /token/],
    ["X-A:", "x", /token/],
    ["X-A", "a\r\nX-B: b", /CR, LF or NUL/],
    ["X-A", "a\nb", /CR, LF or NUL/],
    ["X-A", "a\u0000", /CR, LF or NUL/],
    ["X-A", "caf\u00e9", /printable ASCII/],
    ["X-A", "a\u0007", /printable ASCII/],
  ])("%j: %j is refused", (name, value, why) => {
    expect(headerProblem(name, value)).toMatch(why);
  });

  it("counts names and values in UTF-8 bytes", () => {
    expect(headersBytes({ "X-A": "bc", "X-D": "é" })).toBe(3 + 2 + 3 + 2);
  });
});

describe("userAgentProblem", () => {
  it.each([
    ["Mozilla/5.0 (X11; Linux x86_64)", null],
    ["a\nb", /CR, LF or NUL/],
    ["naïve", /printable ASCII/],
  ])("%j", (ua, why) => {
    const got = userAgentProblem(ua);
    if (why === null) expect(got).toBeNull();
    else expect(got).toMatch(why);
  });
});

describe("domainMatches (RFC 6265 5.1.3)", () => {
  it.each([
    ["example.com", "example.com", true],
    ["www.example.com", "example.com", true],
    ["www.example.com", ".example.com", true],
    ["WWW.Example.COM", "example.com", true],
    ["a.b.example.com", "b.example.com", true],
    ["example.com", "www.example.com", false],
    ["badexample.com", "example.com", false],
    ["example.org", "example.com", false],
    ["127.0.0.1", "127.0.0.1", true],
    ["127.0.0.1", "0.0.1", false],
    ["10.0.0.1", "0.1", false],
  ])("%j in %j: %j", (host, domain, ok) => {
    expect(domainMatches(host, domain)).toBe(ok);
  });
});

describe("pathMatches (RFC 6265 5.1.4)", () => {
  it.each([
    ["/", "/", true],
    ["/a/b", "/", true],
    ["/a", "/a", true],
    ["/a/b", "/a", true],
    ["/a/b", "/a/", true],
    ["/ab", "/a", false],
    ["/", "/a", false],
    ["/b/a", "/a", false],
  ])("%j under %j: %j", (path, cookiePath, ok) => {
    expect(pathMatches(path, cookiePath)).toBe(ok);
  });
});

describe("cookieProblems", () => {
  const problems = (c: Parameters<typeof cookieProblems>[0], host = "shop.example.com") =>
    cookieProblems(c, host).map((p) => p.field);
  it.each([
    [{ name: "sid", value: "abc" }],
    [{ name: "sid", value: "" }],
    [{ name: "sid", value: '"quoted"' }],
    [{ name: "sid", value: "a=b" }],
    [{ name: "sid", value: "v", domain: "example.com" }],
    [{ name: "sid", value: "v", domain: ".Example.COM" }],
    [{ name: "sid", value: "v", domain: "shop.example.com" }],
    [{ name: "sid", value: "v", path: "/cart/items" }],
  ])("%j is valid", (c) => {
    expect(problems(c)).toEqual([]);
  });

  it.each([
    [{ name: "a b", value: "v" }, ["name"]],
    [{ name: "a=b", value: "v" }, ["name"]],
    [{ name: "sid", value: "a;b" }, ["value"]],
    [{ name: "sid", value: "a b" }, ["value"]],
    [{ name: "sid", value: "a,b" }, ["value"]],
    [{ name: "sid", value: 'a"b' }, ["value"]],
    [{ name: "sid", value: "a\\b" }, ["value"]],
    [{ name: "sid", value: "é" }, ["value"]],
    [{ name: "sid", value: "x".repeat(4094) }, ["value"]],
    [{ name: "sid", value: "v", domain: "example.org" }, ["domain"]],
    [{ name: "sid", value: "v", domain: "www.example.com" }, ["domain"]],
    [{ name: "sid", value: "v", domain: "com" }, ["domain"]],
    [{ name: "sid", value: "v", domain: "exa mple.com" }, ["domain"]],
    [{ name: "sid", value: "v", domain: "example.com." }, ["domain"]],
    [{ name: "sid", value: "v", path: "cart" }, ["path"]],
    [{ name: "sid", value: "v", path: "/a;b" }, ["path"]],
    [{ name: "sid", value: "v", path: `/${"a".repeat(1024)}` }, ["path"]],
    [{ name: "a b", value: "a;b", domain: "x.org", path: "" }, ["name", "value", "domain", "path"]],
  ])("%j is refused at %j", (c, fields) => {
    expect(problems(c)).toEqual(fields);
  });

  it("allows a single-label host its own host-wide domain (localhost)", () => {
    expect(problems({ name: "a", value: "b", domain: "localhost" }, "localhost")).toEqual([]);
  });
});

describe("sameSite: which hops get the request's options", () => {
  const u = (s: string) => new URL(s);
  it.each([
    ["https://example.com/a", "https://example.com/b", true],
    ["https://example.com/a", "https://EXAMPLE.com:8443/b", true],
    ["http://example.com/a", "https://example.com/a", true],
    ["https://example.com/a", "http://example.com/a", false],
    ["https://example.com/a", "https://www.example.com/a", false],
    ["https://www.example.com/a", "https://example.com/a", false],
    ["http://127.0.0.1:1/a", "http://127.0.0.3:1/a", false],
  ])("%j → %j: %j", (from, to, ok) => {
    expect(sameSite(u(from), u(to))).toBe(ok);
  });
});

describe("cookieHeader and hopHeaders", () => {
  const request = new URL("https://shop.example.com/cart/view");
  const cookies = [
    { name: "sid", value: "1" },
    { name: "cart", value: "2", path: "/cart" },
    { name: "other", value: "3", path: "/account" },
    { name: "wide", value: "4", domain: "example.com" },
  ];

  it("sends the cookies whose domain and path match the hop, longest path first", () => {
    expect(cookieHeader(cookies, request, request)).toBe("cart=2; sid=1; wide=4");
    expect(cookieHeader(cookies, request, new URL("https://shop.example.com/account/x"))).toBe(
      "other=3; sid=1; wide=4",
    );
    expect(cookieHeader(cookies, request, new URL("https://shop.example.com/cartel"))).toBe("sid=1; wide=4");
    // A host-only cookie stays with its host; a domain cookie matches the domain's other hosts.
    expect(cookieHeader(cookies, request, new URL("https://api.example.com/cart"))).toBe("wide=4");
    expect(cookieHeader([{ name: "sid", value: "1" }], request, new URL("https://x.org/"))).toBeNull();
  });

  const defaults = { "user-agent": "Default/1", accept: "text/html", "accept-language": "en-US" };
  const options = { headers: { "X-Key": "s", "Accept-Language": "de" }, cookies, user_agent: "Mine/2" };

  it("gives a same-site hop the options over the defaults", () => {
    const h = hopHeaders(defaults, options, request, new URL("https://shop.example.com/cart/next"));
    expect(Object.fromEntries(h)).toEqual({
      "user-agent": "Mine/2",
      accept: "text/html",
      "accept-language": "de",
      "x-key": "s",
      cookie: "cart=2; sid=1; wide=4",
    });
  });

  it.each([
    ["another host", "https://evil.example.net/cart"],
    ["a sibling host", "https://api.example.com/cart"],
    ["a downgrade to http", "http://shop.example.com/cart"],
  ])("gives %s only the defaults", (_what, hop) => {
    expect(Object.fromEntries(hopHeaders(defaults, options, request, new URL(hop)))).toEqual(defaults);
  });

  it("without options, sends the defaults", () => {
    expect(Object.fromEntries(hopHeaders(defaults, {}, request, request))).toEqual(defaults);
  });
});
