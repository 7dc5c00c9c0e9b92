import { describe, expect, it } from "vitest";
import { normalizeTargetUrl, targetRefusal, UrlError } from "../../src/fetchers/url-guard";

describe("normalizeTargetUrl", () => {
  it.each([
    ["www.google.com", "https://www.google.com/"],
    ["  www.google.com  ", "https://www.google.com/"],
    ["example.com/a?b=1#frag", "https://example.com/a?b=1"],
    ["HTTP://Example.COM", "http://example.com/"],
    ["https://example.com/path#section", "https://example.com/path"],
    ["localhost:8080/x", "https://localhost:8080/x"],
    ["localhost:8080", "https://localhost:8080/"],
    ["example.com:8443?q=1", "https://example.com:8443/?q=1"],
    ["127.0.0.1:3000/x", "https://127.0.0.1:3000/x"],
    ["http://127.0.0.1:3000/p", "http://127.0.0.1:3000/p"],
    ["[::1]:8080/x", "https://[::1]:8080/x"],
    ["http:example.com", "http://example.com/"],
    ["https://example.com:443/", "https://example.com/"],
  ])("%j -> %j", (raw, expected) => {
    expect(normalizeTargetUrl(raw)).toBe(expected);
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    ["ftp://x", /only http and https/],
    ["javascript:alert(1)", /only http and https/],
    ["mailto:someone@example.com", /only http and https/],
    ["file:///etc/passwd", /only http and https/],
    ["data:text/html,<p>hi</p>", /only http and https/],
    ["http://", /not a valid URL|no host/],
    ["https://exa mple.com", /not a valid URL/],
    ["http://[::1", /not a valid URL/],
    ["http://[fe80::1%25eth0]/", /not a valid URL/],
    ["http://[127.0.0.1]/", /not a valid URL/],
    [`https://example.com/${"a".repeat(8_200)}`, /longer than 8192/],
  ])("%j is refused", (raw, message) => {
    expect(() => normalizeTargetUrl(raw)).toThrow(UrlError);
    expect(() => normalizeTargetUrl(raw)).toThrow(message);
  });

  it("counts the length after percent-encoding", () => {
    expect(() => normalizeTargetUrl(`https://example.com/${" ".repeat(3_000)}x`)).toThrow(/once encoded/);
  });
});

describe("targetRefusal", () => {
  const strict = { allowLoopback: false };
  const dev = { allowLoopback: true };

  it.each([
    // loopback, in every notation the WHATWG parser folds to 127.0.0.1
    ["http://127.0.0.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.255.255.254/", /loopback/],
    ["http://2130706433/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://0x7f000001/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://0x7f.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://0177.0.0.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://017700000001/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.0.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.0.0.1./", /loopback/],
    ["http://[::1]/", /loopback.*\[::1\]/],
    ["http://[0:0:0:0:0:0:0:1]/", /loopback/],
    ["http://[::ffff:127.0.0.1]/", /loopback.*127\.0\.0\.1 inside IPv4-mapped \[::ffff:7f00:1\]/],
    ["http://[::FFFF:7F00:1]/", /loopback/],
    // localhost names
    ["http://localhost/", /localhost/],
    ["http://LOCALHOST:8080/", /localhost/],
    ["http://localhost./", /localhost/],
    ["http://api.localhost/", /localhost/],
    ["http://Foo.LocalHost./x", /localhost/],
    // internal names
    ["http://metadata.google.internal/computeMetadata/v1/", /internal host names.*metadata\.google\.internal/],
    ["http://METADATA.GOOGLE.INTERNAL./", /internal host names/],
    ["http://db.internal/", /internal host names/],
    ["http://printer.local/", /internal host names/],
    // 0.0.0.0/8
    ["http://0.0.0.0/", /0\.0\.0\.0\/8/],
    ["http://0/", /0\.0\.0\.0\/8/],
    ["http://0.1.2.3/", /0\.0\.0\.0\/8/],
    // RFC 1918
    ["http://10.0.0.5/", /^private network addresses cannot be scraped \(10\.0\.0\.5\)$/],
    ["http://10.255.255.255/", /private network/],
    ["http://167772161/", /private network.*\(10\.0\.0\.1\)/],
    ["http://0xa.0.0.1/", /private network.*\(10\.0\.0\.1\)/],
    ["http://012.0.0.1/", /private network.*\(10\.0\.0\.1\)/],
    ["http://10.1/", /private network.*\(10\.0\.0\.1\)/],
    ["http://172.16.0.1/", /private network/],
    ["http://172.31.255.255/", /private network/],
    ["http://192.168.1.1/", /private network/],
    ["http://0xc0a80101/", /private network.*\(192\.168\.1\.1\)/],
    ["http://192.168.257/", /private network.*\(192\.168\.1\.1\)/],
    // CGNAT, link-local / metadata, IETF, benchmarking
    ["http://100.64.0.1/", /carrier-grade NAT/],
    ["http://100.127.255.255/", /carrier-grade NAT/],
    ["http://169.254.169.254/latest/meta-data/", /link-local.*metadata.*\(169\.254\.169\.254\)/],
    ["http://2852039166/", /link-local.*\(169\.254\.169\.254\)/],
    ["http://0xa9fea9fe/", /link-local.*\(169\.254\.169\.254\)/],
    ["http://0251.0376.0251.0376/", /link-local.*\(169\.254\.169\.254\)/],
    ["http://169.254.43518/", /link-local.*\(169\.254\.169\.254\)/],
    ["http://192.0.0.1/", /IETF protocol/],
    ["http://198.18.0.1/", /benchmarking/],
    ["http://198.19.255.255/", /benchmarking/],
    // multicast, reserved, broadcast
    ["http://224.0.0.1/", /multicast/],
    ["http://239.255.255.250/", /multicast/],
    ["http://240.0.0.1/", /reserved/],
    ["http://254.1.2.3/", /reserved/],
    ["http://255.255.255.255/", /broadcast/],
    ["http://4294967295/", /broadcast/],
    // IPv6
    ["http://[::]/", /unspecified/],
    ["http://[0:0:0:0:0:0:0:0]/", /unspecified/],
    ["http://[fc00::1]/", /unique local/],
    ["http://[fd00:ec2::254]/", /unique local.*\[fd00:ec2::254\]/],
    ["http://[FD12:3456:789A::1]/", /unique local/],
    ["http://[fe80::1]/", /link-local IPv6/],
    ["http://[febf:ffff::1]/", /link-local IPv6/],
    ["http://[ff02::1]/", /multicast IPv6/],
    ["http://[ff05::1:3]/", /multicast IPv6/],
    // IPv4 rules applied to embedded addresses
    ["http://[::ffff:10.0.0.1]/", /private network.*10\.0\.0\.1 inside IPv4-mapped \[::ffff:a00:1\]/],
    ["http://[::ffff:a00:1]/", /private network/],
    ["http://[::ffff:169.254.169.254]/", /link-local.*169\.254\.169\.254/],
    ["http://[0:0:0:0:0:ffff:c0a8:101]/", /private network.*192\.168\.1\.1/],
    ["http://[::10.0.0.1]/", /private network.*10\.0\.0\.1/],
    ["http://[::127.0.0.1]/", /loopback/],
    ["http://[64:ff9b::10.0.0.1]/", /private network.*10\.0\.0\.1/],
    ["http://[64:ff9b::a9fe:a9fe]/", /link-local.*169\.254\.169\.254/],
    ["http://[64:ff9b::127.0.0.1]/", /loopback/],
    ["http://[2002:a00:1::]/", /6to4/],
    // scheme and credentials
    ["ftp://example.com/", /only http and https/],
    ["file:///etc/passwd", /only http and https/],
    ["ws://example.com/", /only http and https/],
    ["https://user:pass@example.com/", /credentials in URLs are not allowed/],
    ["https://user@example.com/", /credentials in URLs are not allowed/],
    ["https://:secret@example.com/", /credentials in URLs are not allowed/],
    ["not a url", /not a valid URL/],
  ])("%s is refused", (url, message) => {
    const why = targetRefusal(url, strict);
    expect(why).not.toBeNull();
    expect(why).toMatch(message);
  });

  it.each([
    "https://example.com/",
    "http://EXAMPLE.com./path?q=1",
    "https://www.google.com/search?q=x",
    "http://8.8.8.8/",
    "http://1.1.1.1/",
    "http://134744072/", // 8.8.8.8
    "http://172.15.255.255/",
    "http://172.32.0.1/",
    "http://100.63.255.255/",
    "http://100.128.0.1/",
    "http://169.253.1.1/",
    "http://192.0.1.1/",
    "http://192.169.0.1/",
    "http://198.17.255.255/",
    "http://198.20.0.1/",
    "http://223.255.255.255/",
    "http://11.0.0.1/",
    "http://[2606:4700::1111]/",
    "http://[2606:4700:4700::1111]/",
    "http://[2001:4860:4860::8888]/",
    "http://[::ffff:8.8.8.8]/",
    "http://[64:ff9b::8.8.8.8]/",
    "https://localhost.example.com/",
    "https://internal.example.com/",
    "https://local.example.com/",
    "https://mylocalhost/",
  ])("%s is allowed", (url) => {
    expect(targetRefusal(url, strict)).toBeNull();
    expect(targetRefusal(new URL(url), strict)).toBeNull();
  });

  /*
   * Every entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries (plus IPv4 multicast and
   * the deprecated site-local fec0::/10), written out here by hand from the registries rather than
   * from the guard's table: [block, its first and last address, globally reachable]. Reachable
   * blocks nested in a refused one (192.0.0.9, 2001:3::/32 ...) prove the most specific block wins.
   */
  const REGISTRY: [string, string, string, boolean][] = [
    ["0.0.0.0/8", "0.0.0.0", "0.255.255.255", false],
    ["10.0.0.0/8", "10.0.0.0", "10.255.255.255", false],
    ["100.64.0.0/10", "100.64.0.0", "100.127.255.255", false],
    ["127.0.0.0/8", "127.0.0.0", "127.255.255.255", false],
    ["169.254.0.0/16", "169.254.0.0", "169.254.255.255", false],
    ["172.16.0.0/12", "172.16.0.0", "172.31.255.255", false],
    ["192.0.0.0/24", "192.0.0.0", "192.0.0.255", false],
    ["192.0.0.0/29", "192.0.0.0", "192.0.0.7", false],
    ["192.0.0.8/32", "192.0.0.8", "192.0.0.8", false],
    ["192.0.0.9/32", "192.0.0.9", "192.0.0.9", true],
    ["192.0.0.10/32", "192.0.0.10", "192.0.0.10", true],
    ["192.0.0.170/32", "192.0.0.170", "192.0.0.170", false],
    ["192.0.0.171/32", "192.0.0.171", "192.0.0.171", false],
    ["192.0.2.0/24", "192.0.2.0", "192.0.2.255", false],
    ["192.31.196.0/24", "192.31.196.0", "192.31.196.255", true],
    ["192.52.193.0/24", "192.52.193.0", "192.52.193.255", true],
    ["192.88.99.0/24", "192.88.99.0", "192.88.99.255", false],
    ["192.168.0.0/16", "192.168.0.0", "192.168.255.255", false],
    ["192.175.48.0/24", "192.175.48.0", "192.175.48.255", true],
    ["198.18.0.0/15", "198.18.0.0", "198.19.255.255", false],
    ["198.51.100.0/24", "198.51.100.0", "198.51.100.255", false],
    ["203.0.113.0/24", "203.0.113.0", "203.0.113.255", false],
    ["224.0.0.0/4", "224.0.0.0", "239.255.255.255", false],
    ["240.0.0.0/4", "240.0.0.0", "255.255.255.254", false],
    ["255.255.255.255/32", "255.255.255.255", "255.255.255.255", false],
    ["::1/128", "[::1]", "[::1]", false],
    ["::/128", "[::]", "[::]", false],
    ["::ffff:0:0/96", "[::ffff:0.0.0.0]", "[::ffff:255.255.255.255]", false],
    ["64:ff9b:1::/48", "[64:ff9b:1::]", "[64:ff9b:1:ffff:ffff:ffff:ffff:ffff]", false],
    ["100::/64", "[100::]", "[100::ffff:ffff:ffff:ffff]", false],
    ["100:0:0:1::/64", "[100:0:0:1::]", "[100::1:ffff:ffff:ffff:ffff]", false],
    ["2001::/23", "[2001::]", "[2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["2001::/32", "[2001::]", "[2001:0:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["2001:1::1/128", "[2001:1::1]", "[2001:1::1]", true],
    ["2001:1::2/128", "[2001:1::2]", "[2001:1::2]", true],
    ["2001:1::3/128", "[2001:1::3]", "[2001:1::3]", true],
    ["2001:2::/48", "[2001:2::]", "[2001:2:0:ffff:ffff:ffff:ffff:ffff]", false],
    ["2001:3::/32", "[2001:3::]", "[2001:3:ffff:ffff:ffff:ffff:ffff:ffff]", true],
    ["2001:4:112::/48", "[2001:4:112::]", "[2001:4:112:ffff:ffff:ffff:ffff:ffff]", true],
    ["2001:10::/28", "[2001:10::]", "[2001:1f:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["2001:20::/28", "[2001:20::]", "[2001:2f:ffff:ffff:ffff:ffff:ffff:ffff]", true],
    ["2001:30::/28", "[2001:30::]", "[2001:3f:ffff:ffff:ffff:ffff:ffff:ffff]", true],
    ["2001:db8::/32", "[2001:db8::]", "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["2002::/16", "[2002::]", "[2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["2620:4f:8000::/48", "[2620:4f:8000::]", "[2620:4f:8000:ffff:ffff:ffff:ffff:ffff]", true],
    ["3fff::/20", "[3fff::]", "[3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["5f00::/16", "[5f00::]", "[5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["fc00::/7", "[fc00::]", "[fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["fe80::/10", "[fe80::]", "[febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["fec0::/10", "[fec0::]", "[feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
    ["ff00::/8", "[ff00::]", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", false],
  ];

  it.each(REGISTRY)("%s: its first and last addresses follow the registry", (_block, first, last, reachable) => {
    for (const host of [first, last]) {
      const why = targetRefusal(`http://${host}/`, strict);
      if (reachable) expect(why, host).toBeNull();
      else expect(why, host).toMatch(/cannot be scraped/);
    }
  });

  it.each([
    // just outside a refused block
    "http://9.255.255.255/",
    "http://11.0.0.0/",
    "http://192.0.1.255/",
    "http://192.0.3.0/",
    "http://192.88.98.255/",
    "http://192.88.100.0/",
    "http://198.51.99.255/",
    "http://198.51.101.0/",
    "http://203.0.112.255/",
    "http://203.0.114.0/",
    "http://223.255.255.255/",
    "http://[2000::]/",
    "http://[2001:200::]/",
    "http://[2001:db7:ffff:ffff:ffff:ffff:ffff:ffff]/",
    "http://[2001:db9::]/",
    "http://[2003::]/",
    "http://[3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff]/",
    "http://[3fff:1000::]/",
    // IPv4 carried by an IPv6 form is judged as that IPv4 address
    "http://[::ffff:1.1.1.1]/",
    "http://[::1.1.1.1]/",
    "http://[::ffff:0:1.1.1.1]/",
    "http://[64:ff9b::1.1.1.1]/",
  ])("%s is allowed (public)", (url) => {
    expect(targetRefusal(url, strict)).toBeNull();
  });

  it.each([
    // IPv6 outside 2000::/3 that no registry entry names is reserved by the IETF
    ["http://[100:0:0:2::1]/", /reserved IPv6/],
    ["http://[200::1]/", /reserved IPv6/],
    ["http://[1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]/", /reserved IPv6/],
    ["http://[4000::1]/", /reserved IPv6/],
    ["http://[8000::1]/", /reserved IPv6/],
    ["http://[e000::1]/", /reserved IPv6/],
    ["http://[64:ff9a::1]/", /reserved IPv6/],
    // embedded IPv4, in each carrier form
    ["http://[::ffff:0:10.0.0.1]/", /private network.*10\.0\.0\.1 inside IPv4-translated/],
    ["http://[::ffff:0:169.254.169.254]/", /link-local.*169\.254\.169\.254/],
    ["http://[::192.168.0.1]/", /private network.*192\.168\.0\.1 inside IPv4-compatible/],
    ["http://[64:ff9b::192.0.2.1]/", /documentation.*192\.0\.2\.1 inside NAT64/],
    ["http://[64:ff9b::100.64.0.1]/", /carrier-grade NAT/],
    ["http://[64:ff9b:1::8.8.8.8]/", /local-use IPv4\/IPv6 translation/],
    ["http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", /Teredo/],
    // odd spellings the URL parser folds into an address, or leaves as a name ending in dots
    ["http://0x7f.1../", /loopback.*\(127\.0\.0\.1\)/],
    ["http://0x7f.1.%2e/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.0.0.1.../", /loopback.*\(127\.0\.0\.1\)/],
    ["http://2130706433./", /loopback.*\(127\.0\.0\.1\)/],
    ["http://0xa.0.0.1../", /private network.*\(10\.0\.0\.1\)/],
    ["http://3232235521../", /private network.*\(192\.168\.0\.1\)/],
    ["http://%31%32%37.0.0.1/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://127.0.0.1%2e/", /loopback/],
    ["http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", /loopback.*\(127\.0\.0\.1\)/],
    ["http://[0::0:0:1]:8080/", /loopback.*\[::1\]/],
    ["http://[::ffff:7f00:1]:8080/x", /loopback/],
    ["http://[fe80::1%25eth0]/", /not a valid URL/],
    ["http://[127.0.0.1]/", /not a valid URL/],
    ["http://localhost../", /localhost/],
    ["http://metadata.google.internal../", /internal host names/],
    ["http://router.home.arpa/", /internal host names/],
  ])("%s is refused", (url, message) => {
    expect(targetRefusal(url, strict)).toMatch(message);
  });

  it("accepts URL objects as well as strings", () => {
    expect(targetRefusal(new URL("http://0x7f.1/"), strict)).toMatch(/loopback/);
    expect(targetRefusal(new URL("https://example.com/"), strict)).toBeNull();
  });

  describe("allowLoopback", () => {
    it.each([
      "http://localhost:8787/",
      "http://LOCALHOST./",
      "http://app.localhost/",
      "http://127.0.0.1:3000/p",
      "http://127.255.255.254/",
      "http://2130706433/",
      "http://0x7f.1/",
      "http://127.1/",
      "http://[::1]:8080/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::ffff:7f00:1]/",
    ])("%s is allowed in local development", (url) => {
      expect(targetRefusal(url, dev)).toBeNull();
      expect(targetRefusal(url, strict)).not.toBeNull();
    });

    it.each([
      ["http://10.0.0.1/", /private network/],
      ["http://192.168.0.1/", /private network/],
      ["http://169.254.169.254/", /link-local/],
      ["http://0.0.0.0/", /0\.0\.0\.0\/8/],
      ["http://[::]/", /unspecified/],
      ["http://[fe80::1]/", /link-local IPv6/],
      ["http://[fd00:ec2::254]/", /unique local/],
      ["http://[::ffff:10.0.0.1]/", /private network/],
      ["http://[::127.0.0.1]/", /loopback/],
      ["http://[64:ff9b::7f00:1]/", /loopback/],
      ["http://[::ffff:0:127.0.0.1]/", /loopback.*IPv4-translated/],
      ["http://metadata.google.internal/", /internal host names/],
      ["http://nas.local/", /internal host names/],
      ["https://user:pass@localhost/", /credentials/],
      ["ftp://localhost/", /only http and https/],
    ])("%s is still refused", (url, message) => {
      expect(targetRefusal(url, dev)).toMatch(message);
    });
  });
});
