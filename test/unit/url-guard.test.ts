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
    ["http://[::ffff:127.0.0.1]/", /loopback.*127\.0\.0\.1 inside \[::ffff:7f00:1\]/],
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
    ["http://[::ffff:10.0.0.1]/", /private network.*10\.0\.0\.1 inside \[::ffff:a00:1\]/],
    ["http://[::ffff:a00:1]/", /private network/],
    ["http://[::ffff:169.254.169.254]/", /link-local.*169\.254\.169\.254/],
    ["http://[0:0:0:0:0:ffff:c0a8:101]/", /private network.*192\.168\.1\.1/],
    ["http://[::10.0.0.1]/", /private network.*10\.0\.0\.1/],
    ["http://[::127.0.0.1]/", /loopback/],
    ["http://[64:ff9b::10.0.0.1]/", /private network.*10\.0\.0\.1/],
    ["http://[64:ff9b::a9fe:a9fe]/", /link-local.*169\.254\.169\.254/],
    ["http://[64:ff9b::127.0.0.1]/", /loopback/],
    ["http://[2002:a00:1::]/", /private network.*10\.0\.0\.1/],
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
    "http://[2002:808:808::1]/",
    "http://[fec0::1]/", // deprecated site-local sits outside fe80::/10
    "https://localhost.example.com/",
    "https://internal.example.com/",
    "https://local.example.com/",
    "https://mylocalhost/",
  ])("%s is allowed", (url) => {
    expect(targetRefusal(url, strict)).toBeNull();
    expect(targetRefusal(new URL(url), strict)).toBeNull();
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
      ["http://metadata.google.internal/", /internal host names/],
      ["http://nas.local/", /internal host names/],
      ["https://user:pass@localhost/", /credentials/],
      ["ftp://localhost/", /only http and https/],
    ])("%s is still refused", (url, message) => {
      expect(targetRefusal(url, dev)).toMatch(message);
    });
  });
});
