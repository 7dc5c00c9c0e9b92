/**
 * Tells a bot wall, captcha or block page from a real page. A pure function over the status,
 * headers and the start of the body, table-tested in test/unit/block-detector.test.ts.
 *
 * Only strong signals count: vendor headers, challenge scripts and markup. A job marked blocked
 * fails, so a false positive throws away a good page; that is why:
 * - signals are looked for in tags and script bodies, never in visible text, so an article that
 *   quotes `<div class="g-recaptcha">` (escaped, hence text) or names vendors is not a block;
 * - phrases ("Access Denied", "Press & Hold", "unusual traffic") count only next to vendor markup
 *   or on a short page;
 * - signals that vendors also put on ordinary pages (Cloudflare's JS-detection script, the
 *   PerimeterX sensor, Imperva's injected script, AWS WAF's SDK, captcha widgets on forms, vendor
 *   headers sent with every response) count only on a wall or with a denying status.
 */
export interface BlockInput {
  status: number;
  headers: Headers;
  body: string;
}

/** Block pages are small and put their signals first; the cap keeps a 5 MB page cheap. */
const SCAN_CHARS = 256 * 1024;
/** Visible text under this is a wall, not a page with a captcha form somewhere on it. */
const WALL_TEXT_CHARS = 2_000;
/** A JS-only interstitial renders next to nothing until its script has run. */
const BARE_TEXT_CHARS = 200;

/** The body split the way the signals need it; everything is lowercased. */
interface Page {
  /** Every tag except links (`<a>`), one a line: a hyperlink to a vendor URL is not that vendor's page. */
  tags: string;
  /** Inline script bodies, where challenge configs (`_cf_chl_opt`, `var dd=`, `gokuProps`) live. */
  scripts: string;
  /** Visible text: entities decoded, whitespace collapsed. */
  text: string;
  title: string;
  ids: Set<string>;
  classes: Set<string>;
  scriptSrcs: string[];
  frameSrcs: string[];
  formActions: string[];
  /** Fields a person types into: a page asking for them is a form that has a captcha, not a wall. */
  userFields: number;
  /** A g-recaptcha element carrying `data-s`, the token only Google's own /sorry page hands its widget. */
  recaptchaDataS: boolean;
}

interface Ctx extends Page {
  status: number;
  header: (name: string) => string;
  has: (name: string) => boolean;
  headerNames: string[];
  server: string;
  /** tags + scripts: where URLs of vendor scripts and iframes show up. */
  code: string;
  /** Statuses vendors answer a refused request with; vendor headers alone count only with these. */
  denied: boolean;
  /** Little visible text. Quoted phrases count only here: on a long page they are prose, whatever the status. */
  short: boolean;
  /** Says it is an interstitial: a 403/429 or a wall title. */
  walled: boolean;
  /** Looks like an interstitial: walled, or little text and nothing to fill in. */
  wall: boolean;
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  hellip: "…",
  rsquo: "’",
};

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/g, (_, e: string) => {
    if (e[0] !== "#") return NAMED_ENTITIES[e] ?? " ";
    const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    // fromCodePoint throws outside Unicode; a hostile page must not make detection throw.
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : " ";
  });
}

const collapse = (s: string) => s.replace(/\s+/g, " ").trim();

/** One attribute a match; every match consumes input and a quote scans at most to its partner, so this stays linear. */
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>`]+)))?/g;
const NOT_TYPED_INTO = new Set(["hidden", "submit", "button", "checkbox", "radio", "image", "reset"]);

/**
 * One linear pass with indexOf, and attributes read per tag, rather than regexes over the whole
 * page: patterns like `<[a-z][^>]*class=…` rescan to the end of the input from every `<` of an
 * unclosed tag, which a hostile or broken page turns quadratic (seconds on 256 KB).
 */
function scan(lower: string): Page {
  const page: Page = {
    tags: "",
    scripts: "",
    text: "",
    title: "",
    ids: new Set(),
    classes: new Set(),
    scriptSrcs: [],
    frameSrcs: [],
    formActions: [],
    userFields: 0,
    recaptchaDataS: false,
  };
  const tags: string[] = [];
  const scripts: string[] = [];
  const text: string[] = [];
  let title: string | null = null;
  const n = lower.length;
  let i = 0;
  while (i < n) {
    const lt = lower.indexOf("<", i);
    if (lt < 0) {
      text.push(lower.slice(i));
      break;
    }
    if (lt > i) text.push(lower.slice(i, lt));
    if (lower.startsWith("<!--", lt)) {
      // Comments are neither shown nor run (old IE conditionals, commented-out widgets).
      const end = lower.indexOf("-->", lt + 4);
      if (end < 0) break;
      i = end + 3;
      continue;
    }
    const c = lower.charCodeAt(lt + 1);
    const startsTag = (c >= 97 && c <= 122) || c === 47 /* / */ || c === 33; /* ! */
    if (!startsTag) {
      text.push("<"); // "a < b" in text
      i = lt + 1;
      continue;
    }
    // A tag ends at its ">", or where the next one starts when the page never closes it.
    const gt = lower.indexOf(">", lt + 1);
    const next = lower.indexOf("<", lt + 1);
    const end = gt < 0 ? (next < 0 ? n : next) : next >= 0 && next < gt ? next : gt + 1;
    const tag = lower.slice(lt, end);
    i = end;
    const name = /^<([a-z][a-z0-9-]*)/.exec(tag)?.[1];
    if (!name) continue; // closing tags, doctype
    if (name !== "a") tags.push(tag);
    readAttributes(page, name, tag.slice(name.length + 1));
    if (name === "title" && title === null) {
      const close = lower.indexOf("<", i);
      title = lower.slice(i, close < 0 ? n : close);
    }
    // Script and style bodies are raw text up to their end tag, never markup or visible text.
    if (name === "script" || name === "style") {
      const close = lower.indexOf(`</${name}`, i);
      const bodyEnd = close < 0 ? n : close;
      if (name === "script") scripts.push(lower.slice(i, bodyEnd));
      i = bodyEnd;
    }
  }
  page.tags = tags.join("\n");
  page.scripts = scripts.join("\n");
  page.text = collapse(decodeEntities(text.join(" ")));
  page.title = collapse(decodeEntities(title ?? ""));
  return page;
}

function readAttributes(page: Page, name: string, rest: string): void {
  // Most tags carry no attributes; skipping them keeps a tag-dense page cheap.
  if (!rest.includes("=")) {
    if (name === "input" || name === "textarea") page.userFields++;
    return;
  }
  const attrs = new Map<string, string>();
  for (const m of rest.matchAll(ATTRIBUTE)) if (!attrs.has(m[1])) attrs.set(m[1], m[2] ?? m[3] ?? m[4] ?? "");
  const id = attrs.get("id");
  if (id) page.ids.add(id.trim());
  const classList = attrs.get("class")?.split(/\s+/) ?? [];
  for (const cls of classList) if (cls) page.classes.add(cls);
  const src = attrs.get("src");
  if (src && name === "script") page.scriptSrcs.push(src);
  if (src && (name === "iframe" || name === "frame")) page.frameSrcs.push(src);
  if (name === "form") page.formActions.push(attrs.get("action") ?? "");
  if (classList.includes("g-recaptcha") && attrs.has("data-s")) page.recaptchaDataS = true;
  if (name === "input" || name === "textarea") {
    // The captcha's own answer box (Amazon's, reCAPTCHA's noscript fallback) does not make a form.
    const mentionsCaptcha = [id, attrs.get("name"), attrs.get("class")].some((v) => v?.includes("captcha"));
    const typedInto = name === "textarea" || !NOT_TYPED_INTO.has(attrs.get("type")?.trim() || "text");
    if (typedInto && !mentionsCaptcha) page.userFields++;
  }
}

/**
 * Titles interstitials use, whole (optionally with a short " | Site" suffix), so an article titled
 * "Captcha explained" is not one.
 */
const WALL_TITLE = new RegExp(
  "^(?:verify you are (?:a )?human|are you (?:a )?(?:robot|human)\\??|human verification|security check|captcha|" +
    "bot check|access denied|access to this page has been denied\\.?|one more step|please verify you are a human|" +
    "just a moment(?:\\.\\.\\.|…)?)(?:\\s*[|\\-–—:]\\s*.{0,40})?$",
);

// Quantifiers between literals are bounded so a page repeating the first literal cannot make a scan quadratic.
const CF_CHALLENGE_ORCHESTRATE = /\/cdn-cgi\/challenge-platform\/[^"'\s<>]{0,100}orchestrate\//;
const PX_CAPTCHA_CDN = /captcha\.px-(?:cdn|cloud)\.net\//;
const AKAMAI_REFERENCE = /reference #\d{1,4}\.[0-9a-f]{1,16}\.\d{1,12}\.[0-9a-f]{1,16}/;
const GOOGLE_SORRY_ACTION = /^(?:https?:\/\/(?:www\.|ipv4\.|ipv6\.)?google\.[a-z.]{2,10})?\/sorry\//;
const RECAPTCHA_SCRIPT = /(?:google\.com|recaptcha\.net)\/recaptcha\/(?:api|enterprise)\.js/;
const RECAPTCHA_HOSTS = /(?:google\.com|recaptcha\.net|gstatic\.com)\/recaptcha\//;
const HCAPTCHA_SCRIPT = /hcaptcha\.com\/1\/api\.js/;
const HCAPTCHA_HOSTS = /hcaptcha\.com\//;
/** Scripts of the other captcha widgets: Turnstile, GeeTest, Arkose / FunCaptcha. */
const OTHER_CAPTCHA_SCRIPT = new RegExp(
  [
    "challenges\\.cloudflare\\.com/turnstile/",
    "(?:static|gcaptcha4)\\.geetest\\.com/",
    "(?:client-api\\.arkoselabs|api\\.funcaptcha)\\.com/",
  ].join("|"),
);

const anySrc = (c: Ctx, test: (src: string) => boolean) => c.scriptSrcs.some(test) || c.frameSrcs.some(test);

/**
 * True when every external script on the page comes from `vendor`. An interstitial loads only its
 * vendor's script; a page that also loads its own bundles (a single-page app's near-empty shell,
 * say) merely uses that vendor's SDK.
 */
const onlyScriptsFrom = (c: Ctx, vendor: RegExp) => c.scriptSrcs.every((s) => vendor.test(s));

/**
 * A captcha widget or its script on a wall. Widget markup on a short page is enough; the script
 * alone also loads on pages that render the widget later (a login dialog), so it needs the page to
 * say it is a wall or to load nothing else.
 */
const captchaWall = (c: Ctx, widgetClass: string, script: RegExp, hosts: RegExp) =>
  c.wall && (c.classes.has(widgetClass) || (script.test(c.code) && (c.walled || onlyScriptsFrom(c, hosts))));

/** In order: a vendor's own page beats a generic widget it happens to contain (Google's /sorry has reCAPTCHA). */
const DETECTORS: [reason: string, test: (c: Ctx) => boolean][] = [
  [
    "cloudflare_challenge",
    (c) =>
      c.header("cf-mitigated") === "challenge" ||
      // _cf_chl_opt and the orchestrate script exist only on challenge pages; the bare
      // /cdn-cgi/challenge-platform/ path does not, Cloudflare injects its JS detections into ordinary pages.
      c.scripts.includes("_cf_chl_opt") ||
      CF_CHALLENGE_ORCHESTRATE.test(c.code) ||
      (/^just a moment(?:\.\.\.|…)?$/.test(c.title) && c.code.includes("/cdn-cgi/challenge-platform/")) ||
      (c.ids.has("challenge-form") && (c.code.includes("cf_chl") || c.code.includes("/cdn-cgi/"))),
  ],
  [
    "cloudflare_block",
    (c) =>
      (c.title === "attention required! | cloudflare" &&
        (c.ids.has("cf-error-details") || c.text.includes("you have been blocked"))) ||
      // cf-error-details is on Cloudflare's 5xx pages too (521 "web server is down"): only the 10xx
      // firewall codes are blocks.
      (c.ids.has("cf-error-details") &&
        (c.text.includes("sorry, you have been blocked") ||
          /\berror (?:code )?10(?:0[5-9]|1[0-2]|15|20)\b/.test(c.text))) ||
      c.title.includes("used cloudflare to restrict access") ||
      // Non-HTML clients get the firewall answer as one plain-text line.
      (c.server === "cloudflare" && (c.status === 403 || c.status === 429) && /^error code: 10\d\d$/.test(c.text)),
  ],
  [
    "datadome",
    (c) =>
      ((c.has("x-datadome") || c.has("x-dd-b")) && c.denied) ||
      // captcha-delivery.com serves only DataDome's captcha and device-check pages.
      anySrc(c, (s) => s.includes("captcha-delivery.com/")) ||
      c.scripts.includes("captcha-delivery.com"),
  ],
  [
    "perimeterx",
    (c) =>
      c.ids.has("px-captcha") ||
      PX_CAPTCHA_CDN.test(c.code) ||
      // _pxAppId is also the sensor snippet on every page of a protected site: it needs the wall around it.
      (c.scripts.includes("_pxappid") &&
        (c.denied || /press (?:&|and) hold/.test(c.text) || c.title.startsWith("access to this page has been denied"))),
  ],
  [
    "kasada",
    (c) =>
      (c.headerNames.some((k) => k.startsWith("x-kpsdk-")) && (c.status === 429 || c.status === 403)) ||
      (c.scripts.includes("kpsdk") &&
        c.scriptSrcs.some((s) => /\/ips\.js(?:\?|$)/.test(s)) &&
        (c.status === 429 || c.text.length < BARE_TEXT_CHARS)),
  ],
  [
    "imperva",
    (c) =>
      // x-iinfo / x-cdn ride on every response Imperva serves, blocked or not.
      ((c.has("x-iinfo") || c.header("x-cdn").includes("incapsula")) && c.denied) ||
      c.frameSrcs.some((s) => s.includes("_incapsula_resource")) ||
      anySrc(c, (s) => s.includes("_incapsula_resource") && /[?&](?:cwudnsai|incident_id)=/.test(s)) ||
      (c.short && c.text.includes("incapsula incident id")) ||
      (c.short &&
        c.text.includes("this request was blocked by our security service") &&
        /imperva|incapsula/.test(c.text + c.code)) ||
      // The JS challenge is Imperva's script and nothing else; ordinary pages get the same script
      // injected next to their own.
      (c.code.includes("_incapsula_resource") &&
        c.text.length < BARE_TEXT_CHARS &&
        onlyScriptsFrom(c, /_incapsula_resource/)),
  ],
  [
    "aws_waf",
    (c) =>
      c.has("x-amzn-waf-action") ||
      // gokuProps configures the challenge and captcha interstitials; the SDK script alone is also
      // used by ordinary pages.
      c.scripts.includes("gokuprops") ||
      (c.wall &&
        c.scriptSrcs.some((s) => s.includes(".awswaf.com/") && /(?:challenge|captcha)\.js(?:\?|$)/.test(s)) &&
        onlyScriptsFrom(c, /\.awswaf\.com\//)) ||
      (c.status === 403 && /^(?:awselb|cloudfront)\b/.test(c.server) && c.text.includes("request blocked")),
  ],
  [
    "akamai",
    (c) =>
      (c.status === 403 && c.server.includes("akamaighost")) ||
      c.code.includes("/_sec/cp_challenge/") ||
      c.code.includes("/_sec/verify?provider=interstitial") ||
      (c.short &&
        (c.title === "access denied" || c.text.startsWith("access denied")) &&
        /you don.t have permission to access/.test(c.text) &&
        AKAMAI_REFERENCE.test(c.text)),
  ],
  [
    "google_unusual_traffic",
    (c) =>
      (c.short && c.text.includes("our systems have detected unusual traffic from your computer network")) ||
      // A /sorry/ form or Google's captcha form, each with the reCAPTCHA Google puts in it.
      (c.wall &&
        c.formActions.some((a) => GOOGLE_SORRY_ACTION.test(a)) &&
        (c.classes.has("g-recaptcha") || RECAPTCHA_SCRIPT.test(c.code))) ||
      (c.ids.has("captcha-form") && c.recaptchaDataS),
  ],
  ["hcaptcha", (c) => captchaWall(c, "h-captcha", HCAPTCHA_SCRIPT, HCAPTCHA_HOSTS)],
  ["recaptcha", (c) => captchaWall(c, "g-recaptcha", RECAPTCHA_SCRIPT, RECAPTCHA_HOSTS)],
  [
    "generic_captcha",
    (c) =>
      c.wall &&
      (c.classes.has("cf-turnstile") ||
        c.classes.has("frc-captcha") ||
        OTHER_CAPTCHA_SCRIPT.test(c.code) ||
        // Amazon's "Enter the characters you see below".
        c.formActions.some((a) => a.startsWith("/errors/validatecaptcha"))),
  ],
];

/**
 * Returns a short vendor reason (e.g. "cloudflare_challenge") when the response is a bot-wall /
 * captcha / block page, else null. Pure, no I/O.
 */
export function detectBlock(input: BlockInput): string | null {
  const { status, headers, body } = input;
  const lower = (body.length > SCAN_CHARS ? body.slice(0, SCAN_CHARS) : body).toLowerCase();
  const page = scan(lower);
  const header = (name: string) => headers.get(name)?.toLowerCase() ?? "";
  const short = page.text.length < WALL_TEXT_CHARS;
  const walled = status === 403 || status === 429 || WALL_TITLE.test(page.title);
  const ctx: Ctx = {
    ...page,
    status,
    header,
    has: (name) => headers.has(name),
    headerNames: [...headers.keys()].map((k) => k.toLowerCase()),
    server: header("server"),
    code: `${page.tags}\n${page.scripts}`,
    denied: status === 401 || status === 403 || status === 405 || status === 429,
    short,
    walled,
    wall: walled || (short && page.userFields === 0),
  };
  for (const [reason, test] of DETECTORS) if (test(ctx)) return reason;
  return null;
}
