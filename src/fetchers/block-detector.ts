/**
 * Tells a bot wall, captcha or block page from a real page. A pure function over the status,
 * headers and the start of the body, table-tested in test/unit/block-detector.test.ts.
 *
 * Only strong signals count: vendor headers, challenge scripts and markup. Vendor names in prose
 * never do, so an article about captchas is not a block; a captcha widget alone counts only on a
 * page that looks like a wall (little visible text, or a 403/429).
 */
export interface BlockInput {
  status: number;
  headers: Headers;
  body: string;
}

/** Block pages are small; the signals sit in the head or the first screens. */
const SCAN_BYTES = 256 * 1024;
/** Visible text under this is a wall, not a page with a captcha form somewhere on it. */
const WALL_TEXT_CHARS = 2_000;

function visibleTextLength(html: string): number {
  return html
    .replace(/<(script|style|noscript|template)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&[a-z#0-9]+;/gi, " ")
    .replace(/\s+/g, " ")
    .trim().length;
}

const title = (html: string) => /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1]?.trim().toLowerCase() ?? "";

export function detectBlock({ status, headers, body }: BlockInput): string | null {
  const h = (name: string) => headers.get(name)?.toLowerCase() ?? "";
  const html = body.length > SCAN_BYTES ? body.slice(0, SCAN_BYTES) : body;
  const lower = html.toLowerCase();
  const t = title(html);
  const server = h("server");

  // Cloudflare: the challenge header is authoritative; otherwise the challenge platform script or
  // the "Sorry, you have been blocked" error page.
  if (h("cf-mitigated") === "challenge") return "cloudflare_challenge";
  if (lower.includes("/cdn-cgi/challenge-platform/") || lower.includes("window._cf_chl_opt") || (t === "just a moment..." && lower.includes("challenge"))) {
    return "cloudflare_challenge";
  }
  if ((t.includes("attention required") && t.includes("cloudflare")) || (lower.includes("cf-error-details") && lower.includes("you have been blocked"))) {
    return "cloudflare_block";
  }

  // DataDome: its headers, or its captcha delivery scripts.
  if (headers.has("x-datadome") || headers.has("x-dd-b") || /(?:geo|ct)\.captcha-delivery\.com/.test(lower)) return "datadome";

  // PerimeterX / HUMAN: app id, captcha container or captcha CDN.
  if (/window\._pxappid|_pxappid\s*=|id=["']px-captcha["']|captcha\.px-cdn\.net|px-cloud\.net\/.*captcha/.test(lower)) return "perimeterx";

  // Kasada.
  if ([...headers.keys()].some((k) => k.toLowerCase().startsWith("x-kpsdk-"))) return "kasada";

  // Imperva / Incapsula.
  if (h("x-cdn").includes("incapsula") || headers.has("x-iinfo") || lower.includes("_incapsula_resource") || lower.includes("incapsula incident id")) {
    return "imperva";
  }

  // AWS WAF: the action header, its challenge script, or an ELB "Request blocked" 403.
  if (headers.has("x-amzn-waf-action") || /[\w.-]+\.awswaf\.com\/[^"']*challenge\.js/.test(lower) || lower.includes("awswafintegration")) return "aws_waf";
  if (status === 403 && server.startsWith("awselb") && lower.includes("request blocked")) return "aws_waf";

  // Akamai: the edge server's "Access Denied … Reference #18.x" page.
  if (status === 403 && server.includes("akamaighost")) return "akamai";
  if (t === "access denied" && lower.includes("you don't have permission to access") && /reference&#32;&#35;|reference #\d+\./.test(lower)) return "akamai";

  // Google's "unusual traffic" interstitial (google.com/sorry).
  if (lower.includes("our systems have detected unusual traffic from your computer network") && (lower.includes("/sorry/") || status === 429 || lower.includes("g-recaptcha"))) {
    return "google_unusual_traffic";
  }

  // Captcha widgets: a block only on a page that is a wall.
  const hasRecaptcha = /class=["'][^"']*\bg-recaptcha\b|google\.com\/recaptcha\/(?:api|enterprise)\.js|recaptcha\.net\/recaptcha\/api\.js/.test(lower);
  const hasHcaptcha = /class=["'][^"']*\bh-captcha\b|hcaptcha\.com\/1\/api\.js/.test(lower);
  if (hasRecaptcha || hasHcaptcha) {
    const wall = status === 403 || status === 429 || visibleTextLength(html) < WALL_TEXT_CHARS;
    if (wall) return hasHcaptcha ? "hcaptcha" : "recaptcha";
  }
  return null;
}
