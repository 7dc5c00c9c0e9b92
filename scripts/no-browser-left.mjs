#!/usr/bin/env node
// After the test suite: fails when a browser started for Browser Rendering is still running,
// i.e. when a page or browser leaked. Linux only (reads /proc); elsewhere it does nothing.
import fs from "node:fs";

const ours = (cmd) =>
  cmd.includes("--remote-debugging") &&
  (cmd.includes(".wrangler/chrome") || cmd.includes("/usr/lib/chromium/chromium"));

function leftovers() {
  if (!fs.existsSync("/proc")) return [];
  const out = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cmd = "";
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (ours(cmd) && !cmd.includes("--type=")) out.push(`${pid} ${cmd.slice(0, 120)}`);
  }
  return out;
}

// miniflare closes its browsers as it shuts down; give it a few seconds.
for (let i = 0; i < 20; i++) {
  if (leftovers().length === 0) process.exit(0);
  await new Promise((r) => setTimeout(r, 500));
}
console.error(`Browser processes left running after the suite:\n${leftovers().join("\n")}`);
process.exit(1);
