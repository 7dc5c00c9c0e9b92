#!/usr/bin/env node
// Makes `puppeteer.launch(env.BROWSER)` work under wrangler dev / vitest on a machine that cannot
// download Chrome for Testing. miniflare launches the Chrome build named by BROWSER_VERSION in its
// dist from the wrangler cache and downloads it only when missing; where that download cannot
// happen (no route to the download host), we stand Debian's chromium in at that exact path.
// On a machine that can download (or a non-Linux one), this does nothing and miniflare's own
// install runs. LOCAL_BROWSER=system forces the stand-in, LOCAL_BROWSER=download skips it.
import { execFileSync } from "node:child_process";
import { lookup } from "node:dns/promises";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const DOWNLOAD_HOST = "storage.googleapis.com";
const SYSTEM_CHROMIUM = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"];
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const MARKER = ".miniflare-install-complete";

function miniflareVersions(root) {
  // Every miniflare copy in node_modules (wrangler and the vitest plugin may each nest their own).
  const versions = new Set();
  const walk = (dir, depth) => {
    if (depth > 6) return;
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === "miniflare") {
        const dist = path.join(p, "dist", "src", "index.js");
        if (fs.existsSync(dist)) {
          const m = fs.readFileSync(dist, "utf8").match(/BROWSER_VERSION\s*=\s*"([^"]+)"/);
          if (m) versions.add(m[1]);
        }
      }
      if (e.name === "node_modules" || e.name.startsWith("@") || depth === 0 || dir.endsWith("node_modules"))
        walk(p, depth + 1);
    }
  };
  walk(path.join(root, "node_modules"), 0);
  return [...versions];
}

async function canDownload() {
  try {
    await lookup(DOWNLOAD_HOST);
    return true;
  } catch {
    return false;
  }
}

function ensureSystemChromium() {
  const found = SYSTEM_CHROMIUM.find((p) => fs.existsSync(p));
  if (found) return found === "/usr/bin/chromium" && fs.existsSync(SYSTEM_CHROMIUM[0]) ? SYSTEM_CHROMIUM[0] : found;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && fs.existsSync("/usr/bin/apt-get")) {
    console.log("[local-browser] installing Debian's chromium with apt-get …");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
    execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env });
    return SYSTEM_CHROMIUM.find((p) => fs.existsSync(p));
  }
  return undefined;
}

async function main() {
  const mode = process.env.LOCAL_BROWSER ?? "auto";
  if (mode === "download") return;
  if (os.platform() !== "linux" || os.arch() !== "x64") return;
  if (mode !== "system" && (await canDownload())) return;

  const versions = miniflareVersions(process.cwd());
  if (versions.length === 0) return;
  const chromium = ensureSystemChromium();
  if (!chromium) {
    console.warn(
      "[local-browser] no Chrome download possible and no system chromium: browser jobs will fail locally. Install Debian's `chromium`.",
    );
    return;
  }
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  for (const v of versions) {
    const dir = path.join(cache, ".wrangler", "chrome", `linux-${v}`);
    const exe = path.join(dir, "chrome-linux64", "chrome");
    const wrapper = `#!/bin/sh\n# Stand-in for Chrome for Testing ${v}, written by scripts/local-browser.mjs\nexec ${chromium} ${FLAGS.join(" ")} "$@"\n`;
    const current = fs.existsSync(exe) ? fs.readFileSync(exe).subarray(0, 4096).toString("latin1") : "";
    if (current && !current.includes("scripts/local-browser.mjs")) continue; // a real download: leave it
    fs.mkdirSync(path.dirname(exe), { recursive: true });
    if (current !== wrapper) fs.writeFileSync(exe, wrapper, { mode: 0o755 });
    fs.chmodSync(exe, 0o755);
    // Without this marker miniflare 5 treats the folder as a broken install and deletes it.
    fs.writeFileSync(path.join(dir, MARKER), "");
  }
}

main().catch((e) => {
  console.warn(`[local-browser] setup skipped: ${e?.message ?? e}`);
});
