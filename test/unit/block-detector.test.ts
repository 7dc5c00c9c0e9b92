/**
 * Table test for detectBlock: a realistic page per vendor reason (header-only and body-only where
 * the vendor has both), and the pages that must NOT count as blocks, because a false positive
 * fails a job whose page was fine.
 */
import { describe, expect, it } from "vitest";
import { detectBlock } from "../../src/fetchers/block-detector";

interface Case {
  name: string;
  status: number;
  headers?: Record<string, string>;
  body: string;
  expected: string | null;
}

// ── Vendor pages ────────────────────────────────────────────────────────────────────────────────

const CF_MANAGED_CHALLENGE = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta http-equiv="X-UA-Compatible" content="IE=Edge"><meta name="robots" content="noindex,nofollow"><meta name="viewport" content="width=device-width,initial-scale=1"><style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;-webkit-text-size-adjust:100%;color:#313131}button,html{font-family:system-ui,-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}@media (prefers-color-scheme:dark){body{background-color:#222;color:#d9d9d9}}</style><meta http-equiv="refresh" content="390"></head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content"><noscript><div id="challenge-error-title"><div class="h2"><span class="icon-wrapper"><div class="heading-icon warning-icon"></div></span><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "www.example.com",cType: 'managed',cNounce: '73214',cRay: '8e9a1b2c3d4e5f60',cHash: '5b1e2c3a4d5e6f7',cUPMDTk: "\\/products\\/42?__cf_chl_tk=Qy1zNW2x",cFPWv: 'g',cTTimeMs: '1000',cMTimeMs: '390000',cTplV: 5,cTplB: 'cf',cK: "",fa: "\\/products\\/42?__cf_chl_f_tk=Qy1zNW2x",md: "x8vZ.Qm3",mdrd: "kJ2.pL9",cRq: {ru: 'aHR0cHM6Ly93d3cuZXhhbXBsZS5jb20vcHJvZHVjdHMvNDI=',ra: 'TW96aWxsYS81LjA=',d: 'bXlkYXRh',t: 'MTczMjgwMDAwMC4wMDAwMDA=',cT: Math.floor(Date.now() / 1000),m: 'c2lnbg=='}};var cpo = document.createElement('script');cpo.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8e9a1b2c3d4e5f60';window._cf_chl_opt.cOgUHash = location.hash === '' && location.href.indexOf('#') !== -1 ? '#' : location.hash;window._cf_chl_opt.cOgUQuery = location.search === '' && location.href.slice(0, location.href.length - window._cf_chl_opt.cOgUHash.length).indexOf('?') !== -1 ? '?' : location.search;if (window.history && window.history.replaceState) {var ogU = location.pathname + window._cf_chl_opt.cOgUQuery + window._cf_chl_opt.cOgUHash;history.replaceState(null, null, "\\/products\\/42?__cf_chl_rt_tk=Qy1zNW2x" + window._cf_chl_opt.cOgUHash);cpo.onload = function() {history.replaceState(null, null, ogU);}}document.getElementsByTagName('head')[0].appendChild(cpo);}());</script></body></html>`;

/** The 2019-era "I'm Under Attack" page: no challenge-platform script yet, just the jschl form. */
const CF_LEGACY_IUAM = `<!DOCTYPE HTML>
<html lang="en-US">
<head>
  <meta charset="UTF-8" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <meta name="robots" content="noindex, nofollow" />
  <title>Just a moment...</title>
  <style type="text/css">html, body {width: 100%; height: 100%; margin: 0; padding: 0;} body {background-color: #ffffff; font-family: Helvetica, Arial, sans-serif; font-size: 100%;}</style>
  <script type="text/javascript">
  (function(){
    var a = function() {try{return !!window.addEventListener} catch(e) {return !1} },
    b = function(b, c) {a() ? document.addEventListener("DOMContentLoaded", b, c) : document.attachEvent("onreadystatechange", b)};
    b(function(){
      var a = document.getElementById('cf-content');a.style.display = 'block';
      setTimeout(function(){ var t = document.getElementById('jschl-answer'); t.value = 31.8372; document.getElementById('challenge-form').submit(); }, 4000);
    }, false);
  })();
  </script>
</head>
<body>
  <table width="100%" height="100%" cellpadding="20">
    <tr>
      <td align="center" valign="middle">
          <div class="cf-browser-verification cf-im-under-attack">
  <noscript><h1 data-translate="turn_on_js" style="color:#bd2426;">Please turn JavaScript on and reload the page.</h1></noscript>
  <div id="cf-content" style="display:none">
    <div><div class="bubbles"></div><div class="bubbles"></div><div class="bubbles"></div></div>
    <h1><span data-translate="checking_browser">Checking your browser before accessing</span> example.com.</h1>
    <p data-translate="process_is_automatic">This process is automatic. Your browser will redirect to your requested content shortly.</p>
    <p data-translate="allow_5_secs">Please allow up to 5 seconds&hellip;</p>
  </div>
  <form id="challenge-form" action="/cdn-cgi/l/chk_jschl" method="get">
    <input type="hidden" name="jschl_vc" value="1b2c3d4e5f60718293a4b5c6d7e8f901"/>
    <input type="hidden" name="pass" value="1565000000.123-AbCdEfGhIj"/>
    <input type="hidden" id="jschl-answer" name="jschl_answer"/>
  </form>
</div>
          <div class="attribution"><a href="https://www.cloudflare.com/5xx-error-landing?utm_source=iuam" target="_blank" style="font-size: 12px;">DDoS protection by Cloudflare</a><br>Ray ID: 4f5a6b7c8d9e0f12</div>
      </td>
    </tr>
  </table>
</body>
</html>`;

const CF_BLOCK_1020 = `<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if IE 7]>    <html class="no-js ie7 oldie" lang="en-US"> <![endif]-->
<!--[if IE 8]>    <html class="no-js ie8 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>Attention Required! | Cloudflare</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta http-equiv="X-UA-Compatible" content="IE=Edge" />
<meta name="robots" content="noindex, nofollow" />
<meta name="viewport" content="width=device-width,initial-scale=1" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/cf.errors.css" />
<script>
  if (!navigator.cookieEnabled) {
    window.addEventListener('DOMContentLoaded', function () {
      var cookieEl = document.getElementById('cookie-alert');
      cookieEl.style.display = 'block';
    })
  }
</script>
</head>
<body>
  <div id="cf-wrapper">
    <div class="cf-alert cf-alert-error cf-cookie-error" id="cookie-alert" data-translate="enable_cookies">Please enable cookies.</div>
    <div id="cf-error-details" class="cf-error-details-wrapper">
      <div class="cf-wrapper cf-header cf-error-overview">
        <h1 data-translate="block_headline">Sorry, you have been blocked</h1>
        <h2 class="cf-subheadline"><span data-translate="unable_to_access">You are unable to access</span> example.com</h2>
      </div>
      <div class="cf-section cf-highlight">
        <div class="cf-wrapper">
          <div class="cf-screenshot-container cf-screenshot-full">
            <span class="cf-no-screenshot error"></span>
          </div>
        </div>
      </div>
      <div class="cf-section cf-wrapper">
        <div class="cf-columns two">
          <div class="cf-column">
            <h2 data-translate="blocked_why_headline">Why have I been blocked?</h2>
            <p data-translate="blocked_why_detail">This website is using a security service to protect itself from online attacks. The action you just performed triggered the security solution. There are several actions that could trigger this block including submitting a certain word or phrase, a SQL command or malformed data.</p>
          </div>
          <div class="cf-column">
            <h2 data-translate="blocked_resolve_headline">What can I do to resolve this?</h2>
            <p data-translate="blocked_resolve_detail">You can email the site owner to let them know you were blocked. Please include what you were doing when this page came up and the Cloudflare Ray ID found at the bottom of this page.</p>
          </div>
        </div>
      </div>
      <div class="cf-error-footer cf-wrapper w-240 lg:w-full py-10 sm:py-4 sm:px-8 mx-auto text-center sm:text-left border-solid border-0 border-t border-gray-300">
        <p class="text-13">
          <span class="cf-footer-item sm:block sm:mb-1">Cloudflare Ray ID: <strong class="font-semibold">8e9a1b2c3d4e5f60</strong></span>
          <span class="cf-footer-separator sm:hidden">&bull;</span>
          <span id="cf-footer-item-ip" class="cf-footer-item hidden sm:block sm:mb-1">
            Your IP:
            <button type="button" id="cf-footer-ip-reveal" class="cf-footer-ip-reveal-btn">Click to reveal</button>
            <span class="hidden" id="cf-footer-ip">203.0.113.7</span>
            <span class="cf-footer-separator sm:hidden">&bull;</span>
          </span>
          <span class="cf-footer-item sm:block sm:mb-1"><span>Performance &amp; security by</span> <a rel="noopener noreferrer" href="https://www.cloudflare.com/5xx-error-landing" id="brand_link" target="_blank">Cloudflare</a></span>
        </p>
      </div>
    </div>
  </div>
</body>
</html>`;

/** The newer firewall page for the 10xx codes, titled after the site. */
const CF_ACCESS_DENIED_1020 = `<!DOCTYPE html>
<html class="no-js" lang="en-US">
<head>
<title>Access denied | shop.example.com used Cloudflare to restrict access</title>
<meta charset="UTF-8" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />
</head>
<body>
<div id="cf-wrapper">
  <div id="cf-error-details" class="p-0">
    <header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-8">
      <h1 class="inline-block sm:block sm:mb-2 font-light text-60 lg:text-4xl text-black-dark leading-tight mr-2">
        <span class="inline-block">Access denied</span>
        <span class="code-label">Error code 1020</span>
      </h1>
      <div>You do not have access to shop.example.com.</div><p>The site owner may have set restrictions that prevent you from accessing the site.</p>
    </header>
    <div class="cf-error-footer cf-wrapper">
      <p class="text-13"><span class="cf-footer-item">Ray ID: 8e9a1b2c3d4e5f60</span> &bull; <span class="cf-footer-item">Performance &amp; security by <a href="https://www.cloudflare.com/5xx-error-landing">Cloudflare</a></span></p>
    </div>
  </div>
</div>
</body>
</html>`;

const GOOGLE_SORRY = `<html>
<head><meta http-equiv="content-type" content="text/html; charset=utf-8"><meta name="viewport" content="initial-scale=1"><title>https://www.google.com/search?q=best+pizza+near+me&amp;hl=en</title></head>
<body style="font-family: arial, sans-serif; background-color: #fff; color: #000; padding:20px; font-size:18px; overscroll-behavior:contain;" onload="e=document.getElementById('captcha');if(e){e.focus();} if(solveSimpleChallenge) {solveSimpleChallenge(0,0);}">
<div style="max-width:400px;">
<hr noshade size="1" style="color:#ccc; background-color:#ccc;"><br>
<form id="captcha-form" action="index" method="post">
<noscript>
<div style="font-size:13px;">
  In order to continue, please enable javascript on your web browser.
</div>
</noscript>
<script src="https://www.google.com/recaptcha/api.js" async defer></script>
<script>var submitCallback = function(response) {document.getElementById('captcha-form').submit();};</script>
<div id="recaptcha" class="g-recaptcha" data-sitekey="6LfwuyUTAAAAAOAmoS0fdqijC2PbbdH4kjq62Y1b" data-callback="submitCallback" data-s="Xw3kP0mZ7vQ2bN8rT5yL1cH6"></div>
<input type='hidden' name='q' value='EgTLAHEHGPDpwboGIjB2mZ8'><input type="hidden" name="continue" value="https://www.google.com/search?q=best+pizza+near+me&amp;hl=en">
</form>
<hr noshade size="1" style="color:#ccc; background-color:#ccc;">

<div style="font-size:13px;">
<b>About this page</b><br><br>

Our systems have detected unusual traffic from your computer network.  This page checks to see if it&#39;s really you sending the requests, and not a robot.  <a href="#" onclick="document.getElementById('infoDiv').style.display='block';">Why did this happen?</a><br><br>

<div id="infoDiv" style="display:none; background-color:#eee; padding:10px; margin:0 0 15px 0; line-height:1.4em;">
This page appears when Google automatically detects requests coming from your computer network which appear to be in violation of the <a href="//www.google.com/policies/terms/">Terms of Service</a>. The block will expire shortly after those requests stop.  In the meantime, solving the above CAPTCHA will let you continue to use our services.<br><br>This traffic may have been sent by malicious software, a browser plug-in, or a script that sends automated requests.  If you share your network connection, ask your administrator for help &mdash; a different computer using the same IP address may be responsible.  <a href="//support.google.com/websearch/answer/86640">Learn more</a><br><br>Sometimes you may be asked to solve the CAPTCHA if you are using advanced terms that robots are known to use, or sending requests very quickly.
</div>

IP address: 203.0.113.7<br>Time: 2024-11-28T12:00:00Z<br>URL: https://www.google.com/search?q=best+pizza+near+me&amp;hl=en<br>
</div>
</div>
</body>
</html>`;

/** The older /sorry page: an image captcha and no reCAPTCHA at all. */
const GOOGLE_SORRY_IMAGE = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"><title>Sorry...</title></head>
<body style="font-family: arial, sans-serif">
<div style="max-width:400px;">
<h3>We're sorry...</h3>
<p>... but your computer or network may be sending automated queries. To protect our users, we can't process your request right now.</p>
<form action="/sorry/index" method="get">
<input type="hidden" name="continue" value="https://www.google.com/search?q=weather">
<input type="hidden" name="id" value="14250963580123456789">
<img src="/sorry/image?id=14250963580123456789&amp;hl=en" border="1" alt="Please enable images"><br>
To continue, please type the characters below:<br>
<input type="text" maxlength="100" name="captcha" value="" id="captcha" size="12" style="font-size:16px">
<input type="submit" name="submit" value="Submit">
</form>
<p>Our systems have detected unusual traffic from your computer network. Please try your request again later.</p>
<p>IP address: 203.0.113.7<br>Time: 2019-05-01T10:00:00Z<br>URL: https://www.google.com/search?q=weather</p>
</div></body></html>`;

/** A site's own reCAPTCHA gate in front of its content. */
const RECAPTCHA_WALL = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Security check</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="https://www.google.com/recaptcha/api.js" async defer></script>
<style>body{font-family:sans-serif;text-align:center;margin-top:10%;color:#333}</style>
</head>
<body>
<h1>One more step</h1>
<p>Please complete the security check to access shop.example.com</p>
<form action="/__captcha/verify" method="POST">
  <input type="hidden" name="return_to" value="/products/42">
  <div class="g-recaptcha" data-sitekey="6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI" data-callback="onPass"></div>
  <noscript>
    <div>
      <iframe src="https://www.google.com/recaptcha/api/fallback?k=6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI" frameborder="0" scrolling="no" style="width: 302px; height:422px; border-style: none;"></iframe>
      <textarea id="g-recaptcha-response" name="g-recaptcha-response" class="g-recaptcha-response"></textarea>
    </div>
  </noscript>
  <button type="submit">Continue</button>
</form>
<p class="footer">Why am I seeing this page? Requests from your network look automated.</p>
</body>
</html>`;

/** A rate-limit page that loads reCAPTCHA from script, so there is no widget markup. */
const RECAPTCHA_RATE_LIMIT = `<!doctype html><html><head><meta charset="utf-8"><title>Too many requests</title>
<script>
function onloadCallback() { grecaptcha.render('captcha-box', { sitekey: '6Lc_aCMTAAAAABx7u2W0WPXnVbI_v6ZdbM6rYf16', callback: function (t) { document.getElementById('t').value = t; document.forms[0].submit(); } }); }
</script>
<script src="https://www.recaptcha.net/recaptcha/api.js?onload=onloadCallback&render=explicit" async defer></script>
</head><body><h1>Slow down</h1><p>You have made too many requests. Prove you are human to continue.</p>
<form method="post" action="/unlock"><input type="hidden" id="t" name="token"><div id="captcha-box"></div></form></body></html>`;

const HCAPTCHA_WALL = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Verify you are human</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <script src="https://js.hcaptcha.com/1/api.js" async defer></script>
  <link rel="stylesheet" href="/static/gate.css">
</head>
<body>
  <main class="gate">
    <img src="/static/logo.svg" alt="Example Forums" width="120">
    <h1>Verify you are human</h1>
    <p>forum.example.org needs to review the security of your connection before proceeding.</p>
    <form id="gate" action="/gate/verify" method="post">
      <input type="hidden" name="next" value="/t/how-to-bake-bread/1234">
      <div class="h-captcha" data-sitekey="10000000-ffff-ffff-ffff-000000000001" data-callback="onVerified"></div>
    </form>
  </main>
  <script>function onVerified(){ document.getElementById('gate').submit(); }</script>
</body>
</html>`;

/** A 403 whose hCaptcha is created from script; the page also loads the site's own bundle. */
const HCAPTCHA_403_SCRIPT_ONLY = `<!doctype html><html><head><meta charset="utf-8"><title>Blocked request</title>
<script src="/assets/app.7f3a9c.js" defer></script>
<script src="https://hcaptcha.com/1/api.js?render=explicit&onload=renderGate" async defer></script>
</head><body><div id="gate"></div><p>Your request was flagged. Solve the challenge to continue.</p>
<script>function renderGate(){ hcaptcha.render('gate', { sitekey: '10000000-ffff-ffff-ffff-000000000001' }); }</script></body></html>`;

const DATADOME_CAPTCHA = `<html lang="en"><head><title>shop.example.com</title><style>#cmsg{animation: A 1.5s;}@keyframes A{0%{opacity:0;}99%{opacity:0;}100%{opacity:1;}}</style></head><body style="margin:0"><p id="cmsg">Please enable JS and disable any ad blocker</p><script data-cfasync="false">var dd={'rt':'c','cid':'AHrlqAAAAAMA7yqJ9R2xq3kAWq5cpA==','hsh':'A55FBF4311ED6F1BF9911EB71931D5','t':'fe','s':17434,'e':'f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6','host':'geo.captcha-delivery.com','cookie':'Xy7.kPq~9aZ_3b'}</script><script data-cfasync="false" src="https://ct.captcha-delivery.com/c.js"></script></body></html>`;

/** DataDome's device-check interstitial: the captcha host only appears inside the inline config. */
const DATADOME_INTERSTITIAL = `<html lang="en"><head><title>shop.example.com</title></head><body style="margin:0"><script data-cfasync="false">var dd={'rt':'i','cid':'AHrlqAAAAAMA7yqJ9R2xq3kAWq5cpA==','hsh':'A55FBF4311ED6F1BF9911EB71931D5','b':1650000,'s':17434,'e':'f1c2d3e4a5b6c7d8','host':'geo.captcha-delivery.com','cookie':'Xy7.kPq~9aZ_3b'}</script><script data-cfasync="false" src="/dd-i.js"></script></body></html>`;

const PERIMETERX_BLOCK = `<!DOCTYPE html>
<html lang="en">
<head>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="description" content="px-captcha">
<title>Access to this page has been denied</title>
<style>html, body { margin: 0; padding: 0; font-family: 'Helvetica', sans-serif; color: #000; } .container { display: flex; flex-direction: column; align-items: center; } .page-title { font-size: 28px; } </style>
</head>
<body>
<section class="container">
  <div class="page-title-wrapper"><div class="page-title"><h1 class="page-title">Before we continue...</h1></div></div>
  <div class="content-wrapper"><div class="content">
    <div id="px-captcha"></div>
    <p>Press &amp; Hold to confirm you are<br>a human (and not a bot).</p>
    <p class="reference">Reference ID 1a2b3c4d-5e6f-11ef-8a9b-0123456789ab</p>
  </div></div>
</section>
<script>
window._pxVid = '';
window._pxUuid = '1a2b3c4d-5e6f-11ef-8a9b-0123456789ab';
window._pxAppId = 'PXu6b0qd2S';
window._pxHostUrl = '/u6b0qd2S/xhr';
window._pxCustomLogo = '';
window._pxJsClientSrc = '/u6b0qd2S/init.js';
window._pxFirstPartyEnabled = true;
var script = document.createElement('script');
script.src = '/u6b0qd2S/captcha/captcha.js?a=c&u=1a2b3c4d-5e6f-11ef-8a9b-0123456789ab&v=&m=0';
document.head.appendChild(script);
script.onerror = function () {
  script = document.createElement('script');
  script.src = 'https://captcha.px-cdn.net/PXu6b0qd2S/captcha.js?a=c&u=1a2b3c4d-5e6f-11ef-8a9b-0123456789ab&v=&m=0';
  script.onerror = window._pxOnError;
  document.head.appendChild(script);
};
</script>
</body>
</html>`;

/** A first-party PerimeterX page: the captcha element is created by script, only the config and the wording remain. */
const PERIMETERX_FIRST_PARTY = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Before we continue</title></head>
<body><div class="wrap"><h1>Before we continue...</h1><div id="challenge"></div><p>Press &amp; Hold to confirm you are a human (and not a bot).</p></div>
<script>window._pxAppId='PXu6b0qd2S';window._pxJsClientSrc='/u6b0qd2S/init.js';window._pxHostUrl='/u6b0qd2S/xhr';window._pxFirstPartyEnabled=true;</script>
<script src="/u6b0qd2S/captcha/captcha.js?a=c&amp;m=0"></script></body></html>`;

const AKAMAI_ACCESS_DENIED = `<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>
 
You don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;products&#47;42" on this server.<P>
Reference&#32;&#35;18&#46;2f1b2c17&#46;1732800000&#46;1a2b3c4d
<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;2f1b2c17&#46;1732800000&#46;1a2b3c4d</P>
</BODY>
</HTML>`;

/** Akamai Bot Manager's "sec-cpt" proof-of-work interstitial. */
const AKAMAI_SEC_CPT = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title></title>
<script src="/_sec/cp_challenge/ak-challenge-4-3.js"></script>
<link rel="stylesheet" href="/_sec/cp_challenge/ak-challenge-4-3.css"></head>
<body><div id="sec-container"><div id="sec-text-container"><iframe id="sec-text-if" class="custmsg" src="/_sec/cp_challenge/abc-4-3.htm"></iframe></div>
<div id="sec-if-container"><iframe id="sec-cpt-if" class="crypto" data-key="" data-duration="5" src="/_sec/cp_challenge/ak-challenge-4-3.htm"></iframe></div></div></body></html>`;

const IMPERVA_INCIDENT = `<html style="height:100%"><head><META NAME="ROBOTS" CONTENT="NOINDEX, NOFOLLOW"><meta name="format-detection" content="telephone=no"><meta name="viewport" content="initial-scale=1.0"><meta http-equiv="X-UA-Compatible" content="IE=edge,chrome=1"></head><body style="margin:0px;height:100%"><iframe id="main-iframe" src="/_Incapsula_Resource?CWUDNSAI=27&xinfo=10-60134312-0%200NNN%20RT%281732800000000%2020%29%20q%280%20-1%20-1%20-1%29%20r%280%20-1%29%20B15%284%2C200%2C0%29%20U18&incident_id=1234000560123456789-123456789012345678&edet=15&cinfo=04000000&rpinfo=0&mth=GET" frameborder=0 width="100%" height="100%" marginheight="0px" marginwidth="0px">Request unsuccessful. Incapsula incident ID: 1234000560123456789-123456789012345678</iframe></body></html>`;

/** Imperva's JavaScript challenge: its script and nothing else. */
const IMPERVA_JS_CHALLENGE = `<html><head><META NAME="robots" CONTENT="noindex,nofollow"><script src="/_Incapsula_Resource?SWJIYLWA=5074a744e2e3d891814e9a2dace20bd4,719d34d31c8e3a6e6fffd425f7e032f3"></script><body></body></html>`;

const AWS_WAF_CHALLENGE = `<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title></title>
    <style>body { font-family: "Arial"; } #loading-state { display: flex; justify-content: center; }</style>
    <script>
        window.awsWafCookieDomainList = [];
        window.gokuProps = {
"key":"AQIDAHjcYu/GjX+QlghicBgQ/7bFaQZ+m5FKCMDnO+vTbNg96AGr0d5t6mS2u1wcVqvYrZ5jAAAAfjB8BgkqhkiG9w0BBwagbzBtAgEAMGgGCSqGSIb3DQEHATAeBglghkgBZQMEAS4wEQQM",
"iv":"CgAFRjIw2vAAABUM",
"context":"rn1ISHu3Bm4S9qdvrOv4Dk4a0Ke7z1mXv3lKq9wq8aT1zJtK0m9z1Yp5fA=="
};
    </script>
    <script src="https://3ebe5a1a7d6b.4f5a1e2c.us-east-1.token.awswaf.com/3ebe5a1a7d6b/2d8f6e1c2a3b/4c5d6e7f8a9b/challenge.js"></script>
</head>
<body>
    <div id="challenge-container"></div>
    <script type="text/javascript">
        AwsWafIntegration.saveReferrer();
        AwsWafIntegration.checkForceRefresh().then((forceRefresh) => {
            if (forceRefresh) {
                AwsWafIntegration.forceRefreshToken().then(() => {
                    window.location.reload(true);
                });
            } else {
                AwsWafIntegration.getToken().then(() => {
                    window.location.reload(true);
                });
            }
        });
    </script>
    <noscript>
        <h1>JavaScript is disabled</h1>
        In order to continue, we need to verify that you're not a robot.
        This requires JavaScript. Enable JavaScript and then reload the page.
    </noscript>
</body>
</html>`;

/** Only the challenge script from *.awswaf.com survives (say, a trimmed or re-served copy). */
const AWS_WAF_SCRIPT_ONLY = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title></title>
<script src="https://3ebe5a1a7d6b.edge.sdk.awswaf.com/3ebe5a1a7d6b/2d8f6e1c2a3b/challenge.js"></script></head>
<body><div id="challenge-container"></div><noscript>JavaScript is disabled. Enable JavaScript and then reload the page.</noscript></body></html>`;

const AWS_ELB_REQUEST_BLOCKED = `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">
<TITLE>ERROR: The request could not be satisfied</TITLE>
</HEAD><BODY>
<H1>403 ERROR</H1>
<H2>The request could not be satisfied.</H2>
<HR noshade size="1px">
Request blocked.
We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.
<BR clear="all">
If you provide content to customers through CloudFront, you can find steps to troubleshoot and help prevent this error by reviewing the CloudFront documentation.
<BR clear="all">
<HR noshade size="1px">
<PRE>
Generated by cloudfront (CloudFront)
Request ID: 3xA9kq-H4bM0pRz8vYt1LwQe2sUn5dCf7gJi6oTa==
</PRE>
<ADDRESS>
</ADDRESS>
</BODY></HTML>`;

const KASADA_CHALLENGE = `<!DOCTYPE html><html><head></head><body><script>window.KPSDK={};KPSDK.now=typeof performance!=='undefined'&&performance.now?performance.now.bind(performance):Date.now.bind(Date);KPSDK.start=KPSDK.now();</script><script src="/149e9513-01fa-4fb0-aad4-566afd725d1b/2d206a39-8ed7-437e-a3be-862e0f06eea3/ips.js?tkrm_alpekz_s1.3=0AbCdEfGh1iJkLmNo2pQrStUv"></script></body></html>`;

const AMAZON_CAPTCHA = `<!doctype html><html lang="en" class="a-no-js" data-19ax5a9jf="dingo"><head><meta charset="utf-8"><meta http-equiv="x-ua-compatible" content="ie=edge"><title dir="ltr">Amazon.com</title><meta name="viewport" content="width=device-width"><link rel="stylesheet" href="https://images-na.ssl-images-amazon.com/images/G/01/AUIClients/AmazonUI-3c913031596ca78a3768f4e934b1cc02ce238101.secure.min._V1_.css"></head>
<body><div class="a-container a-padding-double-large" style="min-width:350px;padding:44px 0 !important">
<div class="a-row a-spacing-double-large" style="width: 350px; margin: 0 auto">
<div class="a-row a-spacing-medium a-text-center"><i class="a-icon a-logo"></i></div>
<div class="a-box a-alert a-alert-info a-spacing-base"><div class="a-box-inner"><i class="a-icon a-icon-alert"></i><h4>Enter the characters you see below</h4><p class="a-last">Sorry, we just need to make sure you're not a robot. For best results, please make sure your browser is accepting cookies.</p></div></div>
<div class="a-section"><div class="a-box a-color-offset-background"><div class="a-box-inner a-padding-extra-large">
<form method="get" action="/errors/validateCaptcha" name="">
<input type=hidden name="amzn" value="Y2hKqL3vWq0sZg==" /><input type=hidden name="amzn-r" value="&#047;dp&#047;B0C1234567" />
<div class="a-row a-spacing-large"><div class="a-box"><div class="a-box-inner"><h4>Type the characters you see in this image:</h4><div class="a-row a-text-center"><img src="https://images-na.ssl-images-amazon.com/captcha/usvmgloq/Captcha_kwrrnqwkph.jpg"></div>
<div class="a-row a-spacing-base"><div class="a-row"><div class="a-column a-span6"><label for="captchacharacters">Type characters</label></div></div>
<input autocomplete="off" spellcheck="false" placeholder="Type characters" id="captchacharacters" name="field-keywords" class="a-span12" type="text"></div></div></div></div>
<div class="a-section a-spacing-extra-large"><div class="a-row"><span class="a-button a-button-primary a-span12"><span class="a-button-inner"><button type="submit" class="a-button-text">Continue shopping</button></span></span></div></div>
</form></div></div></div></div></div>
<div class="a-divider a-divider-section"><div class="a-divider-inner"></div></div>
<div class="a-text-center a-spacing-small a-size-mini"><a href="https://www.amazon.com/gp/help/customer/display.html/ref=footer_cou?ie=UTF8&nodeId=508088">Conditions of Use</a><span class="a-letter-space"></span><a href="https://www.amazon.com/gp/help/customer/display.html/ref=footer_privacy?ie=UTF8&nodeId=468496">Privacy Policy</a></div>
<div class="a-text-center a-size-mini a-color-secondary">&copy; 1996-2024, Amazon.com, Inc. or its affiliates</div>
</body></html>`;

const TURNSTILE_WALL = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Verify you are human | Example Docs</title>
<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script></head>
<body><main><h1>Checking that you are not a robot</h1><form action="/verify" method="POST"><div class="cf-turnstile" data-sitekey="0x4AAAAAAAB5yGzA7q9uEXAMPLE" data-callback="done"></div><input type="hidden" name="next" value="/guides/install"></form></main>
<script>function done(){document.forms[0].submit()}</script></body></html>`;

// ── Pages that are not blocks ───────────────────────────────────────────────────────────────────

/** What Cloudflare injects into ordinary pages of a site with Bot Management / JS detections. */
const CF_JSD_INJECTION = `<script>(function(){function c(){var b=a.contentDocument||a.contentWindow.document;if(b){var d=b.createElement('script');d.innerHTML="window.__CF$cv$params={r:'8e9a1b2c3d4e5f60',t:'MTczMjgwMDAwMC4wMDAwMDA='};var a=document.createElement('script');a.nonce='';a.src='/cdn-cgi/challenge-platform/scripts/jsd/main.js';document.getElementsByTagName('head')[0].appendChild(a);";b.getElementsByTagName('head')[0].appendChild(d)}}if(document.body){var a=document.createElement('iframe');a.height=1;a.width=1;a.style.position='absolute';a.style.top=0;a.style.left=0;a.style.border='none';a.style.visibility='hidden';document.body.appendChild(a);if('loading'!==document.readyState)c();else if(window.addEventListener)document.addEventListener('DOMContentLoaded',c);else{var e=document.onreadystatechange||function(){};document.onreadystatechange=function(b){e(b);'loading'!==document.readyState&&(document.onreadystatechange=null,c())}}}})();</script>`;

const ARTICLE_PARAGRAPHS = [
  `<p>If you have ever been asked to click every square containing a traffic light, you have met a CAPTCHA. The name stands for "Completely Automated Public Turing test to tell Computers and Humans Apart", and in 2024 it is less a puzzle than the visible tip of a large risk-scoring system. In this article we walk through the big vendors &mdash; Google reCAPTCHA, hCaptcha, Cloudflare, DataDome, PerimeterX (now HUMAN), Akamai, Imperva Incapsula, AWS WAF and Kasada &mdash; and look at what their pages and widgets actually look like in the HTML.</p>`,
  `<h2 id="recaptcha">reCAPTCHA</h2><p>Google's reCAPTCHA is still the most common widget on the web. Adding the v2 checkbox to a form takes two lines: load the script and drop a placeholder element where the checkbox should render.</p>
<pre><code class="language-html">&lt;script src="https://www.google.com/recaptcha/api.js" async defer&gt;&lt;/script&gt;
&lt;form action="/signup" method="POST"&gt;
  &lt;div class="g-recaptcha" data-sitekey="your_site_key"&gt;&lt;/div&gt;
  &lt;button type="submit"&gt;Sign up&lt;/button&gt;
&lt;/form&gt;</code></pre>
<p>When the user ticks the box, a hidden <code>g-recaptcha-response</code> field is filled with a token that your server verifies against <code>https://www.google.com/recaptcha/api/siteverify</code>. Version 3 drops the checkbox entirely and returns a score between 0.0 and 1.0; you decide what to do with a low score.</p>`,
  `<p>Google also uses reCAPTCHA on its own properties. If you search too aggressively from a shared IP you will land on google.com/sorry, a page that reads: <q>Our systems have detected unusual traffic from your computer network. This page checks to see if it's really you sending the requests, and not a robot.</q> Scrapers see this page so often that "the sorry page" has become a term of art.</p>`,
  `<h2 id="hcaptcha">hCaptcha</h2><p>hCaptcha positioned itself as the privacy-friendly drop-in replacement. The markup is almost identical: <code>&lt;div class="h-captcha" data-sitekey="..."&gt;&lt;/div&gt;</code> plus <code>&lt;script src="https://js.hcaptcha.com/1/api.js"&gt;</code>. Cloudflare used hCaptcha for its own challenges until 2022, when it replaced it with Turnstile, whose widget is a <code>cf-turnstile</code> div loaded from challenges.cloudflare.com.</p>`,
  `<h2 id="cloudflare">Cloudflare challenge pages explained</h2><p>Cloudflare's interstitial is the one everybody recognises: a white page titled <q>Just a moment...</q> that checks your browser before letting you through. Under the hood the page defines a <code>window._cf_chl_opt</code> object and loads an orchestration script from <code>/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1</code>. Responses that were challenged carry a <code>cf-mitigated: challenge</code> header, which is the most reliable way for an API client to notice. When a firewall rule blocks you outright you instead get <q>Attention Required! | Cloudflare</q> with the headline <q>Sorry, you have been blocked</q> inside a <code>&lt;div id="cf-error-details"&gt;</code>, or, for API clients, the bare text <code>error code: 1020</code>.</p>`,
  `<h2 id="datadome-vs-perimeterx">DataDome vs PerimeterX</h2><p>DataDome and PerimeterX both sell server-side bot management, and both fall back to a captcha when unsure. DataDome's block responses carry an <code>x-datadome</code> header and a tiny page whose inline script, <code>var dd={'rt':'c','host':'geo.captcha-delivery.com'}</code>, loads the slider captcha from <code>ct.captcha-delivery.com/c.js</code>. PerimeterX, rebranded HUMAN Security, is famous for its <q>Press &amp; Hold</q> button: the page sets <code>window._pxAppId</code> and renders into <code>&lt;div id="px-captcha"&gt;</code>, with the script served from captcha.px-cdn.net. In our tests DataDome was stricter on datacenter IPs while PerimeterX leaned more heavily on behavioural signals such as mouse movement.</p>`,
  `<h2 id="akamai">Akamai, Imperva and AWS WAF</h2><p>Akamai's edge answers a blocked request with a spartan page: <q>Access Denied. You don't have permission to access "http://www.example.com/" on this server. Reference #18.2f1b2c17.1732800000.1a2b3c4d</q>, served by <code>AkamaiGHost</code>. Imperva (formerly Incapsula) shows <q>Request unsuccessful. Incapsula incident ID: 1234000560123456789-123456789012345678</q> inside an iframe pointing at <code>/_Incapsula_Resource</code>, and its responses carry <code>x-iinfo</code> and <code>x-cdn: Incapsula</code> headers. AWS WAF signals its challenge and CAPTCHA actions with the <code>x-amzn-waf-action</code> header and a <code>challenge.js</code> script from an <code>awswaf.com</code> subdomain. Kasada, finally, answers with HTTP 429 and <code>x-kpsdk-ct</code> headers while its <code>ips.js</code> runs a proof of work.</p>`,
  `<h2 id="takeaways">Takeaways</h2><p>None of these systems relies on the puzzle alone. The puzzle is the last resort, shown when the passive signals &mdash; TLS fingerprint, IP reputation, header order, behaviour &mdash; are inconclusive. For site owners the lesson is to measure how often real users see a challenge; for researchers, to remember that the markup changes often and any detector based on it needs regular maintenance. We will revisit this comparison when the next generation of privacy-preserving attestation tokens ships in mainstream browsers.</p>`,
];

/** A blog article that talks about every vendor, with escaped code samples, on a Cloudflare-fronted blog. */
const CAPTCHA_ARTICLE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>How reCAPTCHA and hCaptcha work: Cloudflare challenge pages explained, DataDome vs PerimeterX</title>
<meta name="description" content="A tour of bot walls: reCAPTCHA, hCaptcha, Cloudflare, DataDome, PerimeterX, Akamai, Imperva, AWS WAF and Kasada.">
<link rel="stylesheet" href="/assets/blog.css">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123XYZ"></script>
<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);} gtag('js', new Date()); gtag('config', 'G-ABC123XYZ');</script>
</head>
<body>
<header class="site-header"><a href="/">The Bot Report</a><nav><a href="/archive">Archive</a> <a href="/about">About</a></nav></header>
<main>
<article>
<h1>How reCAPTCHA and hCaptcha work: Cloudflare challenge pages explained, DataDome vs PerimeterX</h1>
<p class="byline">By Jane Doe &middot; 12 min read &middot; Further reading: <a href="https://developers.google.com/recaptcha/docs/display">reCAPTCHA docs</a>, <a href="https://docs.hcaptcha.com/">hCaptcha docs</a>, <a href="https://geo.captcha-delivery.com/captcha/">a DataDome captcha URL</a></p>
${ARTICLE_PARAGRAPHS.join("\n")}
</article>
</main>
<footer><p>&copy; 2024 The Bot Report. Written by humans, read by bots.</p></footer>
${CF_JSD_INJECTION}
</body>
</html>`;

/** A long company page with a reCAPTCHA-protected contact form at the bottom. */
const CONTACT_PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>About us &amp; contact | Northwind Traders</title>
<link rel="stylesheet" href="/css/site.css">
<script src="/js/site.min.js" defer></script>
<script src="https://www.google.com/recaptcha/api.js" async defer></script>
</head>
<body>
<header><a href="/"><img src="/img/logo.svg" alt="Northwind Traders"></a><nav><a href="/products">Products</a><a href="/about">About</a><a href="/contact">Contact</a></nav></header>
<main>
<section class="about">
<h1>About Northwind Traders</h1>
${"<p>Northwind Traders has imported specialty foods from small producers around the world since 1994. We work directly with farmers, cheesemakers and family-run mills, and we visit every one of them at least once a year. Our warehouse in Portland ships to restaurants, delis and home cooks across North America, and our buyers taste every new lot before it goes on sale. We believe good food starts with fair prices for the people who grow it, so we publish the price we pay each producer alongside the price you pay us.</p>".repeat(8)}
</section>
<section class="contact">
<h2>Contact us</h2>
<p>Questions about an order, a wholesale account or a product? Send us a message and we will answer within one business day.</p>
<form action="/contact" method="post">
  <label>Name <input type="text" name="name" required></label>
  <label>Email <input type="email" name="email" required></label>
  <label>Message <textarea name="message" rows="6" required></textarea></label>
  <div class="g-recaptcha" data-sitekey="6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"></div>
  <button type="submit">Send</button>
</form>
</section>
</main>
<footer><p>Northwind Traders, 1200 NW Naito Pkwy, Portland OR</p></footer>
</body>
</html>`;

/** Short, but a login form: the widget protects the form, it does not stand in front of the site. */
const LOGIN_WITH_RECAPTCHA = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in | Example CRM</title>
<script src="https://www.google.com/recaptcha/api.js" async defer></script></head>
<body><main class="login"><h1>Sign in</h1>
<form action="/session" method="post"><input type="hidden" name="csrf" value="a1b2c3">
<label>Email <input type="email" name="email" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<div class="g-recaptcha" data-sitekey="6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"></div>
<button type="submit">Sign in</button></form><p><a href="/reset">Forgot your password?</a></p></main></body></html>`;

/** A single-page app shell: next to no text until its bundle runs, with reCAPTCHA v3 loaded up front. */
const SPA_SHELL_WITH_RECAPTCHA = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Example Travel</title>
<link rel="icon" href="/favicon.ico"><script src="https://www.google.com/recaptcha/api.js?render=6Lc_aCMTAAAAABx7u2W0WPXnVbI_v6ZdbM6rYf16"></script>
<script type="module" crossorigin src="/assets/index-4f8a2c1e.js"></script><link rel="stylesheet" href="/assets/index-9b7d3e2f.css"></head>
<body><noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div></body></html>`;

/** An ordinary page of a PerimeterX-protected shop: the sensor snippet is on every page. */
const PX_PROTECTED_SHELL = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Running shoes | Example Sports</title>
<script type="text/javascript">(function(){window._pxAppId='PXu6b0qd2S';var p=document.getElementsByTagName('script')[0],s=document.createElement('script');s.async=1;s.src='/u6b0qd2S/init.js';p.parentNode.insertBefore(s,p);}());</script>
<script src="/static/js/app.3c9e1f.js" defer></script></head>
<body><div id="app"><h1>Running shoes</h1><p>Loading products...</p></div></body></html>`;

/** An ordinary page behind Imperva: its script is injected next to the site's own. */
const IMPERVA_PROTECTED_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Branch locator | Example Bank</title>
<script src="/js/locator.min.js" defer></script></head>
<body><h1>Find a branch</h1><div id="map"></div><p>Enter a ZIP code to find branches and ATMs near you.</p>
<script type="text/javascript" src="/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd425f7e032f3&ns=2&cb=1203468842" async></script></body></html>`;

/** A page using the AWS WAF JavaScript SDK to attach tokens to its own API calls. */
const AWS_WAF_SDK_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Checkout | Example Store</title>
<script type="text/javascript" src="https://3ebe5a1a7d6b.edge.sdk.awswaf.com/3ebe5a1a7d6b/2d8f6e1c2a3b/challenge.js" defer></script>
<script type="module" src="/assets/checkout-71ac2d.js"></script></head><body><div id="checkout"></div></body></html>`;

/** A short ordinary page on a Cloudflare-fronted site, with Cloudflare's JS detections injected. */
const CF_SHORT_ORDINARY = `<!doctype html><html><head><meta charset="utf-8"><title>Opening hours | Café Luna</title></head><body><h1>Opening hours</h1><p>Mon–Fri 7:00–18:00, Sat 8:00–14:00, closed Sundays.</p>${CF_JSD_INJECTION}</body></html>`;

const CF_521 = `<!DOCTYPE html>
<html class="no-js" lang="en-US"><head><title>example.com | 521: Web server is down</title><meta charset="UTF-8" /><link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details" class="p-0"><header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-8">
<h1 class="inline-block sm:block sm:mb-2 font-light text-60 lg:text-4xl text-black-dark leading-tight mr-2"><span class="inline-block">Web server is down</span> <span class="code-label">Error code 521</span></h1>
<div>Visit <a href="https://www.cloudflare.com/5xx-error-landing?utm_source=errorcode_521&amp;utm_campaign=example.com" target="_blank" rel="noopener noreferrer">cloudflare.com</a> for more information.</div><div class="mt-3">2024-11-28 12:00:00 UTC</div></header>
<div class="cf-section cf-wrapper"><div class="clearfix"><h2>What happened?</h2><p>The web server is not returning a connection. As a result, the web page is not displaying.</p></div></div>
</div></div></body></html>`;

const NGINX_403 = `<html>
<head><title>403 Forbidden</title></head>
<body>
<center><h1>403 Forbidden</h1></center>
<hr><center>nginx/1.24.0</center>
</body>
</html>`;

const APACHE_403 = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>403 Forbidden</title>
</head><body>
<h1>Forbidden</h1>
<p>You don't have permission to access this resource.</p>
<hr>
<address>Apache/2.4.58 (Ubuntu) Server at www.example.com Port 443</address>
</body></html>`;

const ELB_403 = `<html>
<head><title>403 Forbidden</title></head>
<body>
<center><h1>403 Forbidden</h1></center>
</body>
</html>`;

const SITE_404 = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Page not found | Northwind Traders</title><link rel="stylesheet" href="/css/site.css"></head>
<body><header><a href="/">Northwind Traders</a></header><main><h1>We couldn't find that page</h1><p>The page you were looking for may have moved. Try the <a href="/search">search</a> or go back to the <a href="/">home page</a>.</p>
<form action="/search" method="get"><input type="search" name="q" placeholder="Search products"><button>Search</button></form></main></body></html>`;

const SERVER_500 = `<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.</p></body></html>`;

/** ~5 MB of ordinary markup: the detector must only look at its start. */
const FIVE_MB_PAGE = (() => {
  const row = `<tr><td class="sku">NW-000123</td><td>Organic rolled oats, 25 lb sack</td><td class="price">$38.90</td><td><a href="/p/000123">details</a></td></tr>\n`;
  const rows = row.repeat(Math.ceil((5 * 1024 * 1024) / row.length));
  return `<!DOCTYPE html><html><head><title>Full catalogue | Northwind Traders</title></head><body><h1>Full catalogue</h1><table>${rows}</table></body></html>`;
})();

/** A block page followed by megabytes of padding: its signals are at the start, where the scan looks. */
const FIVE_MB_DATADOME = DATADOME_CAPTCHA.replace("</body>", `<!-- ${"x".repeat(5 * 1024 * 1024)} --></body>`);

/** A PerimeterX marker buried 4 MB deep, past the scan window: not considered (and not a wall either). */
const FIVE_MB_LATE_MARKER = FIVE_MB_PAGE.replace("</table>", `</table><div id="px-captcha"></div>`);

const cases: Case[] = [
  // Cloudflare
  {
    name: "cloudflare: cf-mitigated header only",
    status: 403,
    headers: { "cf-mitigated": "challenge", server: "cloudflare", "cf-ray": "8e9a1b2c3d4e5f60-AMS" },
    body: "",
    expected: "cloudflare_challenge",
  },
  {
    name: "cloudflare: managed challenge page, body only, status 200",
    status: 200,
    body: CF_MANAGED_CHALLENGE,
    expected: "cloudflare_challenge",
  },
  {
    name: "cloudflare: managed challenge page with its headers",
    status: 403,
    headers: { "cf-mitigated": "challenge", server: "cloudflare", "content-type": "text/html; charset=UTF-8" },
    body: CF_MANAGED_CHALLENGE,
    expected: "cloudflare_challenge",
  },
  {
    name: "cloudflare: legacy I'm Under Attack page",
    status: 503,
    headers: { server: "cloudflare" },
    body: CF_LEGACY_IUAM,
    expected: "cloudflare_challenge",
  },
  {
    name: "cloudflare: Attention Required block page",
    status: 403,
    headers: { server: "cloudflare" },
    body: CF_BLOCK_1020,
    expected: "cloudflare_block",
  },
  {
    name: "cloudflare: 1020 access denied page, body only",
    status: 403,
    body: CF_ACCESS_DENIED_1020,
    expected: "cloudflare_block",
  },
  {
    name: "cloudflare: plain-text 'error code: 1020'",
    status: 403,
    headers: { server: "cloudflare", "content-type": "text/plain; charset=UTF-8" },
    body: "error code: 1020",
    expected: "cloudflare_block",
  },

  // Google
  {
    name: "google: /sorry page with reCAPTCHA (429)",
    status: 429,
    body: GOOGLE_SORRY,
    expected: "google_unusual_traffic",
  },
  { name: "google: /sorry page served with 200", status: 200, body: GOOGLE_SORRY, expected: "google_unusual_traffic" },
  {
    name: "google: older /sorry page with an image captcha",
    status: 503,
    body: GOOGLE_SORRY_IMAGE,
    expected: "google_unusual_traffic",
  },

  // Captcha widgets on walls
  { name: "recaptcha: site gate with widget, status 200", status: 200, body: RECAPTCHA_WALL, expected: "recaptcha" },
  {
    name: "recaptcha: 429 page loading reCAPTCHA from script",
    status: 429,
    body: RECAPTCHA_RATE_LIMIT,
    expected: "recaptcha",
  },
  { name: "hcaptcha: 'Verify you are human' gate", status: 200, body: HCAPTCHA_WALL, expected: "hcaptcha" },
  {
    name: "hcaptcha: 403 loading hCaptcha from script",
    status: 403,
    body: HCAPTCHA_403_SCRIPT_ONLY,
    expected: "hcaptcha",
  },
  {
    name: "generic_captcha: Amazon 'Enter the characters' page",
    status: 200,
    body: AMAZON_CAPTCHA,
    expected: "generic_captcha",
  },
  { name: "generic_captcha: Turnstile gate", status: 200, body: TURNSTILE_WALL, expected: "generic_captcha" },

  // DataDome
  {
    name: "datadome: x-datadome header only (403)",
    status: 403,
    headers: {
      "x-datadome": "protected",
      "x-datadome-cid": "AHrlqAAAAAMA7yqJ9R2xq3kAWq5cpA==",
      "set-cookie": "datadome=Xy7.kPq~9aZ_3b; Max-Age=31536000; Domain=.example.com; Path=/; Secure; SameSite=Lax",
    },
    body: "",
    expected: "datadome",
  },
  {
    name: "datadome: x-dd-b header only (403)",
    status: 403,
    headers: { "x-dd-b": "2" },
    body: "",
    expected: "datadome",
  },
  { name: "datadome: captcha page, body only, status 200", status: 200, body: DATADOME_CAPTCHA, expected: "datadome" },
  {
    name: "datadome: device-check interstitial, body only",
    status: 403,
    body: DATADOME_INTERSTITIAL,
    expected: "datadome",
  },
  {
    name: "datadome: captcha page with its headers",
    status: 403,
    headers: { "x-datadome": "protected", "x-dd-b": "1", server: "cloudflare" },
    body: DATADOME_CAPTCHA,
    expected: "datadome",
  },

  // PerimeterX / HUMAN
  { name: "perimeterx: Press & Hold block page (403)", status: 403, body: PERIMETERX_BLOCK, expected: "perimeterx" },
  { name: "perimeterx: block page served with 200", status: 200, body: PERIMETERX_BLOCK, expected: "perimeterx" },
  {
    name: "perimeterx: first-party page with _pxAppId and Press & Hold",
    status: 200,
    body: PERIMETERX_FIRST_PARTY,
    expected: "perimeterx",
  },

  // Akamai
  {
    name: "akamai: AkamaiGHost 403, header only",
    status: 403,
    headers: { server: "AkamaiGHost", "mime-version": "1.0" },
    body: "",
    expected: "akamai",
  },
  {
    name: "akamai: Access Denied page with its header",
    status: 403,
    headers: { server: "AkamaiGHost" },
    body: AKAMAI_ACCESS_DENIED,
    expected: "akamai",
  },
  {
    name: "akamai: Access Denied page, body only",
    status: 403,
    headers: { server: "nginx" },
    body: AKAMAI_ACCESS_DENIED,
    expected: "akamai",
  },
  { name: "akamai: sec-cpt challenge interstitial", status: 428, body: AKAMAI_SEC_CPT, expected: "akamai" },

  // Imperva / Incapsula
  {
    name: "imperva: x-iinfo header on a 403, header only",
    status: 403,
    headers: { "x-iinfo": "10-60134312-0 0NNN RT(1732800000000 20) q(0 -1 -1 -1) r(0 -1) B15(4,200,0) U18" },
    body: "",
    expected: "imperva",
  },
  {
    name: "imperva: x-cdn Incapsula on a 403, header only",
    status: 403,
    headers: { "x-cdn": "Incapsula" },
    body: "",
    expected: "imperva",
  },
  { name: "imperva: incident page, body only, status 200", status: 200, body: IMPERVA_INCIDENT, expected: "imperva" },
  {
    name: "imperva: incident page with its headers",
    status: 200,
    headers: { "x-cdn": "Imperva", "x-iinfo": "10-60134312-0 0NNN RT(1732800000000 20)" },
    body: IMPERVA_INCIDENT,
    expected: "imperva",
  },
  {
    name: "imperva: JavaScript challenge (only the Incapsula script)",
    status: 200,
    body: IMPERVA_JS_CHALLENGE,
    expected: "imperva",
  },

  // AWS WAF
  {
    name: "aws_waf: x-amzn-waf-action header only",
    status: 202,
    headers: { "x-amzn-waf-action": "challenge", server: "awselb/2.0" },
    body: "",
    expected: "aws_waf",
  },
  {
    name: "aws_waf: captcha action header on a 405",
    status: 405,
    headers: { "x-amzn-waf-action": "captcha" },
    body: "",
    expected: "aws_waf",
  },
  { name: "aws_waf: challenge page, body only", status: 202, body: AWS_WAF_CHALLENGE, expected: "aws_waf" },
  {
    name: "aws_waf: only the awswaf.com challenge.js on an empty page",
    status: 200,
    body: AWS_WAF_SCRIPT_ONLY,
    expected: "aws_waf",
  },
  {
    name: "aws_waf: ELB 403 'Request blocked'",
    status: 403,
    headers: { server: "awselb/2.0" },
    body: AWS_ELB_REQUEST_BLOCKED,
    expected: "aws_waf",
  },
  {
    name: "aws_waf: CloudFront 403 'Request blocked'",
    status: 403,
    headers: { server: "CloudFront", "x-cache": "Error from cloudfront" },
    body: AWS_ELB_REQUEST_BLOCKED,
    expected: "aws_waf",
  },

  // Kasada
  {
    name: "kasada: 429 with x-kpsdk-* headers, header only",
    status: 429,
    headers: { "x-kpsdk-ct": "0AbCdEfGh1iJkLmNo2pQrStUv", "x-kpsdk-r": "1-B1Rm" },
    body: "",
    expected: "kasada",
  },
  { name: "kasada: 429 challenge page, body only", status: 429, body: KASADA_CHALLENGE, expected: "kasada" },
  {
    name: "kasada: challenge page with its headers",
    status: 429,
    headers: { "x-kpsdk-ct": "0AbCdEfGh1iJkLmNo2pQrStUv" },
    body: KASADA_CHALLENGE,
    expected: "kasada",
  },

  // Not blocks
  {
    name: "null: article about captchas naming every vendor",
    status: 200,
    headers: { server: "cloudflare", "cf-ray": "8e9a1b2c3d4e5f60-AMS" },
    body: CAPTCHA_ARTICLE,
    expected: null,
  },
  { name: "null: the same article served with 403", status: 403, body: CAPTCHA_ARTICLE, expected: null },
  { name: "null: long page with a reCAPTCHA contact form", status: 200, body: CONTACT_PAGE, expected: null },
  { name: "null: short login page with a reCAPTCHA widget", status: 200, body: LOGIN_WITH_RECAPTCHA, expected: null },
  {
    name: "null: single-page app shell loading reCAPTCHA v3",
    status: 200,
    body: SPA_SHELL_WITH_RECAPTCHA,
    expected: null,
  },
  { name: "null: PerimeterX sensor on an ordinary page", status: 200, body: PX_PROTECTED_SHELL, expected: null },
  {
    name: "null: ordinary page behind Imperva (headers + injected script)",
    status: 200,
    headers: { "x-cdn": "Imperva", "x-iinfo": "10-60134312-0 0NNN RT(1732800000000 20)" },
    body: IMPERVA_PROTECTED_PAGE,
    expected: null,
  },
  { name: "null: ordinary page using the AWS WAF SDK", status: 200, body: AWS_WAF_SDK_PAGE, expected: null },
  {
    name: "null: short page behind Cloudflare with JS detections",
    status: 200,
    headers: { server: "cloudflare" },
    body: CF_SHORT_ORDINARY,
    expected: null,
  },
  {
    name: "null: DataDome header on an ordinary 200",
    status: 200,
    headers: { "x-datadome": "protected", "x-dd-b": "1" },
    body: CONTACT_PAGE,
    expected: null,
  },
  {
    name: "null: Kasada token header on an ordinary JSON 200",
    status: 200,
    headers: { "x-kpsdk-ct": "0AbCdEfGh1iJkLmNo2pQrStUv", "content-type": "application/json" },
    body: `{"items":[{"id":1,"name":"Trail runner"}],"next":null}`,
    expected: null,
  },
  {
    name: "null: Cloudflare 521 error page",
    status: 521,
    headers: { server: "cloudflare" },
    body: CF_521,
    expected: null,
  },
  { name: "null: nginx 403", status: 403, headers: { server: "nginx/1.24.0" }, body: NGINX_403, expected: null },
  {
    name: "null: Apache 403 ('You don't have permission to access')",
    status: 403,
    headers: { server: "Apache/2.4.58 (Ubuntu)" },
    body: APACHE_403,
    expected: null,
  },
  {
    name: "null: ELB 403 without 'Request blocked'",
    status: 403,
    headers: { server: "awselb/2.0" },
    body: ELB_403,
    expected: null,
  },
  { name: "null: 404 page", status: 404, body: SITE_404, expected: null },
  { name: "null: 500 page", status: 500, body: SERVER_500, expected: null },
  { name: "null: empty body, 200", status: 200, body: "", expected: null },
  { name: "null: empty body, 403", status: 403, body: "", expected: null },
  { name: "null: 5 MB ordinary page", status: 200, body: FIVE_MB_PAGE, expected: null },
  {
    name: "null: 5 MB page with a marker past the scan window",
    status: 200,
    body: FIVE_MB_LATE_MARKER,
    expected: null,
  },
  {
    name: "null: 256 KB of unclosed tags (must not go quadratic)",
    status: 200,
    body: "<div class=x data-a='1 ".repeat(12_000),
    expected: null,
  },
  {
    name: "datadome: 5 MB body that starts with the block page",
    status: 403,
    body: FIVE_MB_DATADOME,
    expected: "datadome",
  },
];

const REASONS = [
  "cloudflare_challenge",
  "cloudflare_block",
  "google_unusual_traffic",
  "recaptcha",
  "hcaptcha",
  "datadome",
  "perimeterx",
  "akamai",
  "imperva",
  "aws_waf",
  "kasada",
  "generic_captcha",
];

describe("detectBlock", () => {
  it.each(cases)("$name", ({ status, headers, body, expected }) => {
    expect(detectBlock({ status, headers: new Headers(headers), body })).toBe(expected);
  });

  it("has a positive case for every reason, and nothing but those reasons", () => {
    const expected = new Set(cases.map((c) => c.expected).filter((r) => r !== null));
    expect([...expected].sort()).toEqual([...REASONS].sort());
  });

  it("ignores header-name case", () => {
    const headers = new Headers({ "CF-Mitigated": "Challenge" });
    expect(detectBlock({ status: 403, headers, body: "" })).toBe("cloudflare_challenge");
  });
});
