/**
 * The local target site: the only stand-in in the tests, for "the outside web". A plain Node HTTP
 * server on 127.0.0.1 with the pages the tests need: statuses, redirects, loops, hangs, pages held
 * until released, resets, flaky 503s, vendor block pages, a captcha article, and JS-rendered pages for browser jobs.
 * Also used by the benchmark.
 */
import dgram from "node:dgram";
import http from "node:http";
import type { AddressInfo } from "node:net";

const html = (title: string, body: string, head = "") =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>${head}</head><body>${body}</body></html>`;

export const BLOCK_PAGES: Record<string, { status: number; headers?: Record<string, string>; body: string }> = {
  cloudflare_challenge: {
    status: 403,
    headers: { "cf-mitigated": "challenge", server: "cloudflare" },
    body: html(
      "Just a moment...",
      `<div id="challenge-running">Checking your browser</div><script>window._cf_chl_opt={cvId:'3'};</script><script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script>`,
    ),
  },
  cloudflare_block: {
    status: 403,
    headers: { server: "cloudflare" },
    body: html(
      "Attention Required! | Cloudflare",
      `<div id="cf-wrapper"><div id="cf-error-details"><h1>Sorry, you have been blocked</h1><h2>You are unable to access example.com</h2></div></div>`,
    ),
  },
  google_unusual_traffic: {
    status: 429,
    body: html(
      "https://www.google.com/search",
      `<div>Our systems have detected unusual traffic from your computer network. This page checks to see if it's really you sending the requests, and not a robot.</div><form action="/sorry/index"><div class="g-recaptcha" data-sitekey="x"></div></form>`,
    ),
  },
  recaptcha: {
    status: 200,
    body: html(
      "Verify you are human",
      `<form><div class="g-recaptcha" data-sitekey="6Lc"></div></form><script src="https://www.google.com/recaptcha/api.js" async defer></script>`,
    ),
  },
  hcaptcha: {
    status: 200,
    body: html(
      "Verify you are human",
      `<form><div class="h-captcha" data-sitekey="10000000"></div></form><script src="https://hcaptcha.com/1/api.js" async defer></script>`,
    ),
  },
  datadome: {
    status: 403,
    headers: { "x-datadome": "protected", "x-dd-b": "1" },
    body: html(
      "",
      `<script>var dd={'rt':'c','cid':'AHrlqAAA','hsh':'2211F522','t':'fe','s':17434,'host':'geo.captcha-delivery.com'}</script><script src="https://ct.captcha-delivery.com/c.js"></script>`,
    ),
  },
  perimeterx: {
    status: 403,
    body: html(
      "Access to this page has been denied",
      `<div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human (and not a bot).</p><script>window._pxAppId='PXabc123';</script><script src="https://captcha.px-cdn.net/PXabc123/captcha.js"></script>`,
    ),
  },
  akamai: {
    status: 403,
    headers: { server: "AkamaiGHost" },
    body: html(
      "Access Denied",
      `<h1>Access Denied</h1>You don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;" on this server.<p>Reference&#32;&#35;18&#46;2f1b2c17&#46;1732800000&#46;1a2b3c4d</p>`,
    ),
  },
  imperva: {
    status: 200,
    headers: { "x-cdn": "Incapsula", "x-iinfo": "10-12345678-0 0NNN RT(1732800000000 0) q(0 -1 -1 -1) r(0 -1)" },
    body: html(
      "",
      `<iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=9&xinfo=10-12345678-0" frameborder=0>Request unsuccessful. Incapsula incident ID: 123000050123456789-12345678901234567</iframe>`,
    ),
  },
  aws_waf: {
    status: 202,
    headers: { "x-amzn-waf-action": "challenge" },
    body: html(
      "",
      `<script src="https://abcdef.token.awswaf.com/abcdef/challenge.js"></script><script>AwsWafIntegration.checkForceRefresh()</script>`,
    ),
  },
};

const ARTICLE = html(
  "How CAPTCHAs work: reCAPTCHA, hCaptcha and bot walls explained",
  `<article><h1>How CAPTCHAs work</h1>
${"<p>CAPTCHAs are everywhere. Google's reCAPTCHA and hCaptcha ask you to click traffic lights; Cloudflare's challenge page says “Just a moment...” while it checks your browser; DataDome, PerimeterX (now HUMAN) with its Press &amp; Hold button, Akamai's “Access Denied” pages and Imperva Incapsula all try to tell people from bots. Our systems have detected unusual traffic is the message Google shows. To add one to a form you write <code>&lt;div class=\"g-recaptcha\"&gt;</code> and load the api.js script.</p>".repeat(12)}
</article>`,
);

/** A page with every part the result formats treat differently (chrome to drop, relative URLs, head metadata). */
const FORMATS_DOC = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Formats Doc</title>
<meta name="description" content="A page for result formats">
<link rel="canonical" href="/formats/canonical">
<link rel="icon" href="/static/favicon.ico">
<meta property="og:title" content="OG Formats"><meta property="og:image" content="/static/og.png">
<meta property="og:type" content="article"><meta property="og:site_name" content="Target">
</head><body>
<header><nav><a href="/">Home</a> <a href="/formats/about">About</a></nav></header>
<main><article><h1>Main Heading</h1>
<p>First <strong>bold</strong> paragraph with <a href="/page/1">a relative link</a>
and <a href="https://example.com/x">an absolute one</a>.</p>
<ul><li class="item">Alpha</li><li class="item">Beta</li></ul>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
<img src="img/pic.png" alt="Pic">
<a href="/page/1">a relative link</a>
<script>document.write("never in markdown")</script>
</article></main>
<footer><p>Footer text</p><a href="/formats/legal">Legal</a></footer>
</body></html>`;

const flakyCounts = new Map<string, number>();
/**
 * /held/<key>: pages that answer only when the test POSTs /release/<key> (at once after that): a fetch
 * kept in flight for exactly as long as a test needs, instead of a long sleep on a guessed margin.
 */
const held = new Map<string, { released: boolean; waiting: Set<() => void> }>();
const heldOf = (key: string) => {
  let h = held.get(key);
  if (!h) held.set(key, (h = { released: false, waiting: new Set() }));
  return h;
};

/**
 * What the politeness pages saw, per test tag and Host header (host and port, the service's host
 * key): requests in flight at the moment, the most at once, and when each request started.
 */
type HostSeen = {
  in_flight: number;
  max_in_flight: number;
  starts: number[];
  /** The `who` parameter of each request, in the order of `starts`. */
  who: string[];
  ends: number[];
  statuses: number[];
};
const politeSeen = new Map<string, Map<string, HostSeen>>();

function politePage(
  req: http.IncomingMessage,
  url: URL,
  send: (status: number, body: string, h?: Record<string, string>) => void,
) {
  const tag = url.searchParams.get("tag") ?? "";
  const hosts = politeSeen.get(tag) ?? new Map<string, HostSeen>();
  politeSeen.set(tag, hosts);
  if (url.pathname === "/polite/seen") return send(200, JSON.stringify(Object.fromEntries(hosts)));
  const host = req.headers.host ?? "";
  const seen = hosts.get(host) ?? { in_flight: 0, max_in_flight: 0, starts: [], who: [], ends: [], statuses: [] };
  hosts.set(host, seen);
  seen.starts.push(Date.now());
  seen.who.push(url.searchParams.get("who") ?? "");
  seen.in_flight++;
  seen.max_in_flight = Math.max(seen.max_in_flight, seen.in_flight);
  // /polite/429: the host's first request of the tag is answered 429 with Retry-After (`after` s).
  const refuse = url.pathname === "/polite/429" && seen.statuses.length === 0;
  const status = refuse ? 429 : 200;
  const headers: Record<string, string> = refuse ? { "retry-after": url.searchParams.get("after") ?? "2" } : {};
  setTimeout(
    () => {
      seen.in_flight--;
      seen.ends.push(Date.now());
      seen.statuses.push(status);
      send(status, html("Polite", `<h1>${status}</h1>`), headers);
    },
    Number(url.searchParams.get("ms") ?? "0"),
  );
}

function route(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = new URL(req.url ?? "/", "http://x");
  const p = url.pathname;
  const send = (status: number, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...headers });
    res.end(body);
  };
  let m: RegExpMatchArray | null;
  if (p === "/ok" || p === "/") return send(200, html("OK", "<h1>Hello from the target site</h1>"));
  if (p === "/slow") {
    // A page that takes its time (?ms=, at most 10 s): runs that last long enough to watch or interrupt.
    const ms = Math.min(10_000, Number(url.searchParams.get("ms") ?? 500) || 0);
    const t = setTimeout(() => send(200, html("Slow", `<h1>Slow page</h1><p>answered after ${ms} ms</p>`)), ms);
    res.on("close", () => clearTimeout(t));
    return;
  }
  if ((m = p.match(/^\/page\/(\d+)$/)))
    return send(200, html(`Page ${m[1]}`, `<h1>Page ${m[1]}</h1><p>${"lorem ipsum ".repeat(50)}</p>`));
  if ((m = p.match(/^\/status\/(\d{3})$/)))
    return send(Number(m[1]), html(`Status ${m[1]}`, `<h1>Status ${m[1]}</h1>`));
  if ((m = p.match(/^\/redirect\/(\d+)$/))) {
    const n = Number(m[1]);
    res.writeHead(302, { location: n > 1 ? `/redirect/${n - 1}` : "/ok" });
    return res.end();
  }
  if (p === "/loop/a" || p === "/loop/b") {
    res.writeHead(302, { location: p === "/loop/a" ? "/loop/b" : "/loop/a" });
    return res.end();
  }
  if (p === "/redirect-private") {
    // An SSRF attempt: a public-looking page that redirects to the cloud metadata address.
    res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
    return res.end();
  }
  if (p === "/hang") return; // never answers
  if ((m = p.match(/^\/slow\/(\d+)$/))) {
    const t = setTimeout(() => send(200, html("Slow", `<h1>Slow ${m![1]}</h1>`)), Number(m[1]));
    req.on("close", () => clearTimeout(t));
    return;
  }
  if ((m = p.match(/^\/held\/([\w-]+)$/))) {
    const h = heldOf(m[1]);
    const answer = () => send(200, html("Held", `<h1>Held ${m![1]}</h1>`));
    if (h.released) return answer();
    h.waiting.add(answer);
    res.on("close", () => h.waiting.delete(answer));
    return;
  }
  if (req.method === "POST" && (m = p.match(/^\/release\/([\w-]+)$/))) {
    // Answers how many requests were waiting: the test's evidence they were in flight until now.
    const h = heldOf(m[1]);
    h.released = true;
    const waiting = [...h.waiting];
    h.waiting.clear();
    for (const answer of waiting) answer();
    return send(200, JSON.stringify({ released: waiting.length }), { "content-type": "application/json" });
  }
  if (p === "/reset") return req.socket.destroy();
  if (p.startsWith("/polite/")) return politePage(req, url, send);
  if (p === "/flaky") {
    // 503 with Retry-After for the first `fail` requests of `key`, then 200.
    const key = url.searchParams.get("key") ?? "";
    const fail = Number(url.searchParams.get("fail") ?? "1");
    const seen = (flakyCounts.get(key) ?? 0) + 1;
    flakyCounts.set(key, seen);
    if (seen <= fail) return send(503, html("Busy", "<h1>Try later</h1>"), { "retry-after": "1" });
    return send(200, html("Recovered", `<h1>Recovered after ${seen - 1} failures</h1>`));
  }
  if (p === "/big") {
    res.writeHead(200, { "content-type": "text/html" });
    const chunk = "x".repeat(1024 * 1024);
    for (let i = 0; i < 11; i++) res.write(chunk);
    return res.end();
  }
  if ((m = p.match(/^\/block\/(\w+)$/)) && BLOCK_PAGES[m[1]]) {
    const b = BLOCK_PAGES[m[1]];
    return send(b.status, b.body, b.headers);
  }
  if (p === "/article") return send(200, ARTICLE);
  if (p === "/empty") return send(200, "");
  if (p === "/no-content") {
    res.writeHead(204);
    return res.end();
  }
  if (p === "/latin1") {
    res.writeHead(200, { "content-type": "text/html; charset=iso-8859-1" });
    return res.end(Buffer.from(html("Latin", "<p>Caf\u00e9 cr\u00e8me</p>"), "latin1"));
  }

  // ── Result formats ────────────────────────────────────────────────────────────
  if (p === "/formats/doc") return send(200, FORMATS_DOC);
  if (p === "/formats/based") {
    // Relative URLs resolve against <base href>, not against the page's own URL.
    const body = `<p><a href="guide/start">Start</a> <img src="img/logo.png" alt="Logo"></p>`;
    return send(200, html("Based", body, `<base href="/formats/docs/v2/">`));
  }
  if (p === "/formats/tricky") {
    // Values a CSV writer must quote: comma, double quote, CR/LF, and non-ASCII.
    const title = `Commas, "quotes" &amp; café`;
    const tags = `<ul><li class="tag">a,b</li><li class="tag">"c"</li></ul>`;
    return send(200, html(title, `<h1 class="t">Line "two", end</h1><pre class="p">x,\ny</pre>${tags}`));
  }
  if (p === "/formats/many") {
    // 2,000 items of 100 characters: 200 KB of values, past the 64 KB kept per job.
    const items = Array.from({ length: 2_000 }, (_, i) => `<li>${String(i).padStart(5, "0")}${"v".repeat(95)}</li>`);
    return send(200, html("Many", `<ul>${items.join("")}</ul>`));
  }
  if (p === "/formats/reveal") {
    // The value exists only once the click has run.
    const reveal = `document.getElementById('secret').innerHTML='<span class=&quot;v&quot;>Shown after click</span>'`;
    return send(200, html("Reveal", `<button id="reveal" onclick="${reveal}">Show</button><div id="secret"></div>`));
  }

  // ── Browser pages ─────────────────────────────────────────────────────────────
  if (p === "/js") {
    return send(
      200,
      html(
        "JS",
        `<div id="app">Loading…</div><script>setTimeout(() => { document.getElementById('app').textContent = 'Rendered by JavaScript'; }, 50);</script>`,
      ),
    );
  }
  if (p === "/click") {
    return send(
      200,
      html(
        "Click",
        `<button id="reveal" onclick="document.getElementById('secret').textContent='Revealed by click'">Show</button><div id="secret"></div>`,
      ),
    );
  }
  if (p === "/form") {
    return send(
      200,
      html(
        "Form",
        `<form action="/submitted" method="get"><input id="q" name="q"><button type="submit">Go</button></form>`,
      ),
    );
  }
  if (p === "/submitted")
    return send(
      200,
      html(
        "Submitted",
        `<h1 id="result">You searched for ${(url.searchParams.get("q") ?? "").replace(/[<>&"]/g, "")}</h1>`,
      ),
    );
  if (p === "/scroll") {
    return send(
      200,
      html(
        "Scroll",
        `<div id="list"></div><script>
let n = 0; const list = document.getElementById('list');
function more() { for (let i = 0; i < 10; i++) { const d = document.createElement('div'); d.className = 'item'; d.style.height = '200px'; d.textContent = 'item ' + (++n); list.appendChild(d); } }
more();
window.addEventListener('scroll', () => { if (n < 50 && window.innerHeight + window.scrollY >= document.body.scrollHeight - 50) setTimeout(more, 50); });
</script>`,
      ),
    );
  }
  if (p === "/late") {
    return send(
      200,
      html(
        "Late",
        `<div id="root"></div><script>setTimeout(() => { const d = document.createElement('div'); d.id = 'late'; d.textContent = 'Arrived late'; document.getElementById('root').appendChild(d); }, 700);</script>`,
      ),
    );
  }
  if (p === "/nav") return send(200, html("Nav", `<a id="next" href="/nav-target">next</a>`));
  if (p === "/nav-target") return send(200, html("Nav target", `<h1 id="arrived">Arrived after navigation</h1>`));
  if (p === "/js-block") {
    // Looks harmless until its script swaps in a challenge.
    return send(
      200,
      html(
        "Welcome",
        `<div id="c">Welcome</div><script>setTimeout(() => { document.title = 'Just a moment...'; document.body.innerHTML = '<div id="challenge-running"></div>'; const s = document.createElement('script'); s.textContent = 'window._cf_chl_opt={cvId:"3"}'; document.body.appendChild(s); const t = document.createElement('script'); t.src = '/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'; document.body.appendChild(t); }, 50);</script>`,
      ),
    );
  }
  if (p === "/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1")
    return send(200, "", { "content-type": "application/javascript" });
  if (p === "/never-loads") {
    // The document arrives but a subresource never does, so the load event never fires.
    return send(200, html("Never loads", `<h1>Almost</h1><img src="/hang">`));
  }
  if (p === "/huge-dom") {
    // Small on the wire, over 10 MB once its script has run (hidden: laying out 11 MB of text takes
    // longer than a job on a loaded machine, and only the size matters here).
    const script = `document.getElementById('x').textContent = 'y'.repeat(11 * 1024 * 1024);`;
    return send(200, html("Huge", `<div id="x" hidden></div><script>${script}</script>`));
  }
  if (p === "/evaluate") return send(200, html("Eval", `<ul><li>a</li><li>b</li><li>c</li></ul>`));
  if (p === "/state") {
    // Shows the cookie and localStorage this origin had before the page ran, then sets both.
    return send(
      200,
      html(
        "State",
        `<div id="seen"></div><script>
const seen = 'cookie=[' + document.cookie + '] storage=[' + localStorage.getItem('k') + ']';
document.getElementById('seen').textContent = seen;
document.cookie = 'tenant=secret; max-age=3600; path=/';
localStorage.setItem('k', 'secret');
</script>`,
      ),
    );
  }
  if (p === "/tall") return send(200, html("Tall", `<div style="height:100000px;background:#36c"></div>`));
  if (p === "/long-url") {
    // Its URL becomes 100 KB without a request: only the browser knows it.
    const script = `history.replaceState(null, '', '/long-url?' + 'a'.repeat(100 * 1024));`;
    return send(200, html("Long URL", `<script>${script}</script>`));
  }
  if (p === "/redirect-long") {
    res.writeHead(302, { location: `/ok?${"b".repeat(12 * 1024)}` });
    return res.end();
  }
  if (p.startsWith("/escape")) return escape(p, send);
  if (p.startsWith("/options/")) return requestOptionsPage(req, url, res, send);
  if (p === "/refused/hits") {
    // What the refused server saw, read here: asking that server would count the question.
    const body = JSON.stringify({ origin: refused.origin, requests: refused.requests, datagrams: refused.datagrams });
    if (url.searchParams.has("reset")) Object.assign(refused, { requests: [], datagrams: 0 });
    return send(200, body, { "content-type": "application/json" });
  }
  send(404, html("Not found", "<h1>Not found</h1>"));
}

// ── Request options ───────────────────────────────────────────────────────────────
/** What /options/* requests carried, by their `key` query parameter (shared by both hosts). */
const optionHits = new Map<string, { host: string; path: string; headers: http.IncomingHttpHeaders }[]>();
/** A 1×1 transparent PNG. */
const PIXEL = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/**
 * Pages for headers, cookies, devices, waiting and blocked resources. Every request with a `key`
 * is recorded with its host and headers (GET /options/hits?key=K reads them), on either host.
 * - /options/echo?key&next&sub&frame: a page that shows navigator.userAgent and its viewport;
 *   with `next`, a 302 there instead (a redirect chain); each `sub` becomes an <img> on the page,
 *   each `frame` an <iframe>.
 * - /options/pixel.png?key, /options/style.css?key, /options/font.woff2?key: subresources.
 * - /options/images?key&n&frame: a page with n images, a stylesheet and a web font (and a frame
 *   of the same with 2 images).
 * - /options/after-load: fetches /slow/3000 once loaded, then says so in the page.
 */
function requestOptionsPage(
  req: http.IncomingMessage,
  url: URL,
  res: http.ServerResponse,
  send: (status: number, body: string, headers?: Record<string, string>) => void,
) {
  const p = url.pathname;
  const key = url.searchParams.get("key");
  if (p === "/options/hits") {
    return send(200, JSON.stringify(optionHits.get(key ?? "") ?? []), { "content-type": "application/json" });
  }
  if (key) {
    const hits = optionHits.get(key) ?? [];
    hits.push({ host: req.headers.host ?? "", path: p, headers: req.headers });
    optionHits.set(key, hits);
  }
  if (p === "/options/echo") {
    const next = url.searchParams.get("next");
    if (next) {
      res.writeHead(302, { location: next });
      return res.end();
    }
    const attr = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
    const imgs = url.searchParams.getAll("sub").map((s) => `<img src="${attr(s)}">`);
    for (const f of url.searchParams.getAll("frame")) imgs.push(`<iframe src="${attr(f)}"></iframe>`);
    const script = `document.getElementById('ua').textContent = navigator.userAgent;
document.getElementById('vw').textContent = innerWidth + 'x' + innerHeight + '@' + devicePixelRatio;`;
    // The viewport meta makes a mobile layout as wide as the device (without it, 980 CSS px).
    const body = `<p id="ua"></p><p id="vw"></p>${imgs.join("")}<script>${script}</script>`;
    return send(200, html("Echo", body, `<meta name="viewport" content="width=device-width">`));
  }
  if (p === "/options/pixel.png") {
    res.writeHead(200, { "content-type": "image/png" });
    return res.end(PIXEL);
  }
  if (p === "/options/style.css") return send(200, "body { color: #333 }", { "content-type": "text/css" });
  if (p === "/options/font.woff2") return send(200, "", { "content-type": "font/woff2" });
  if (p === "/options/images") {
    const n = Number(url.searchParams.get("n") ?? "3");
    const q = `key=${encodeURIComponent(key ?? "")}`;
    let imgs = Array.from({ length: n }, (_, i) => `<img src="/options/pixel.png?${q}&i=${i}">`).join("");
    // A frame of the same page with 2 images: a page's frames follow its options too.
    if (url.searchParams.has("frame")) imgs += `<iframe src="/options/images?${q}&n=2"></iframe>`;
    // The font is preloaded: a font used only by layout may be asked for after the load event.
    const font = `/options/font.woff2?${q}`;
    const head =
      `<link rel="stylesheet" href="/options/style.css?${q}">` +
      `<link rel="preload" href="${font}" as="font" type="font/woff2" crossorigin>` +
      `<style>@font-face { font-family: F; src: url(${font}); } p { font-family: F }</style>`;
    return send(200, html("Images", `<p>Pictures</p>${imgs}`, head));
  }
  if (p === "/options/after-load") {
    const script = `addEventListener('load', () => fetch('/slow/3000').then(() => {
  document.getElementById('late').textContent = 'fetched after load';
}));`;
    return send(200, html("After load", `<p id="late">waiting</p><script>${script}</script>`));
  }
  send(404, html("Not found", "<h1>Not found</h1>"));
}

/**
 * A server on another loopback address that the tests make the URL guard refuse
 * (TEST_REFUSED_HOSTS): every request, WebSocket upgrade and UDP datagram (a WebRTC STUN probe)
 * that reaches it is recorded, so a test can require that a page reached it by no route at all.
 * A bare TCP connection that sends nothing is not counted: Chrome preconnects to a navigation's
 * host before any request exists that interception could refuse.
 */
const refused = { origin: "", requests: [] as string[], datagrams: 0 };

export async function startRefusedSite(host = "127.0.0.2"): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    refused.requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "text/plain", "access-control-allow-origin": "*" });
    res.end("reached");
  });
  server.on("upgrade", (req, socket) => {
    refused.requests.push(`UPGRADE ${req.url}`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  const udp = dgram.createSocket("udp4");
  udp.on("message", () => refused.datagrams++);
  await new Promise<void>((resolve) => udp.bind(port, host, resolve));
  refused.origin = `http://${host}:${port}`;
  return {
    origin: refused.origin,
    close: async () => {
      udp.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A page that tries every way out of a rendered page that the page's own request interception
 * would not see, each aimed at the refused server, and lists what each attempt got.
 */
function escape(p: string, send: (status: number, body: string, headers?: Record<string, string>) => void) {
  const to = refused.origin;
  const ws = to.replace(/^http/, "ws");
  const js = { "content-type": "text/javascript" };
  const tryWebSocket = (path: string, say: string) => `try {
  new WebSocket('${ws}${path}'); ${say}('websocket created');
} catch (e) { ${say}('websocket threw ' + e.name); }`;
  if (p === "/escape-worker.js") {
    return send(
      200,
      `${tryWebSocket("/worker-ws", "postMessage")}
fetch('${to}/worker-fetch').then(() => postMessage('fetch answered'), () => postMessage('fetch failed'));`,
      js,
    );
  }
  if (p === "/escape-shared-worker.js") {
    const onConnect = `const say = (m) => e.ports[0].postMessage(m); ${tryWebSocket("/shared-worker-ws", "say")}`;
    return send(200, `onconnect = (e) => { ${onConnect} };`, js);
  }
  if (p === "/escape-sw.js") {
    const install = `e.waitUntil(fetch('${to}/sw-fetch').catch(() => 0))`;
    return send(200, `self.addEventListener('install', (e) => ${install});`, js);
  }
  if (p === "/escape-popup") {
    const script = `${tryWebSocket("/popup-ws", "void")} fetch('${to}/popup-fetch');`;
    return send(200, html("Popup", `<script>${script}</script>`));
  }
  const stun = `stun:${to.slice("http://".length)}`;
  return send(
    200,
    html(
      "Escape",
      `<a id="popup-refused" target="_blank" href="${to}/link-popup">refused</a>
<a id="popup-allowed" target="_blank" href="/escape-popup">allowed, then phones out</a><ul id="log"></ul><script>
const log = (k, v) => {
  const li = document.createElement('li');
  li.dataset.k = k;
  li.textContent = k + ': ' + v;
  document.getElementById('log').appendChild(li);
};
const attempt = (k, f) => { try { log(k, f()); } catch (e) { log(k, 'threw ' + e.name); } };
attempt('open', () => String(window.open('${to}/window-open')));
attempt('websocket', () => new WebSocket('${ws}/ws') && 'created');
attempt('iframe-websocket', () => {
  const f = document.createElement('iframe');
  document.body.appendChild(f);
  return new f.contentWindow.WebSocket('${ws}/iframe-ws') && 'created';
});
attempt('rtc', () => {
  const pc = new RTCPeerConnection({ iceServers: [{ urls: '${stun}' }] });
  pc.createDataChannel('x');
  pc.createOffer().then((o) => pc.setLocalDescription(o));
  return 'created';
});
attempt('worker', () => {
  new Worker('/escape-worker.js').onmessage = (e) => log('worker-says', e.data);
  return 'created';
});
attempt('shared-worker', () => {
  new SharedWorker('/escape-shared-worker.js').port.onmessage = (e) => log('shared-worker-says', e.data);
  return 'created';
});
navigator.serviceWorker.register('/escape-sw.js')
  .then(() => log('service-worker', 'registered'), (e) => log('service-worker', 'refused ' + e.name));
fetch('${to}/fetch').then(() => log('fetch', 'answered'), () => log('fetch', 'failed'));
</script>`,
    ),
  );
}

/** The site on `host`; the tests also run it on 127.0.0.3, a second host for what must not leave the first. */
export async function startTargetSite(
  port = 0,
  host = "127.0.0.1",
): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer(route);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    origin: `http://${host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
