#!/usr/bin/env node
// After `wrangler deploy --dry-run --outdir DIR` (npm run check): the Worker's modules, gzipped as they
// are uploaded, against the platform's size limit. The docs page's script (~1.3 MB gzipped) is most of
// it, so a heavier docs bundle or a new large dependency shows here before a deploy is refused.
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

/** Workers Free allows 3 MB gzipped (Paid 10 MB): staying under the smaller keeps both deployable. */
const LIMIT = 3 * 1024 * 1024;
const dir = process.argv[2] ?? ".wrangler/dry-run";
const files = fs.readdirSync(dir).filter((f) => !f.endsWith(".map") && f !== "README.md");
let raw = 0;
let gz = 0;
for (const f of files) {
  const b = fs.readFileSync(path.join(dir, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(`Worker bundle: ${files.length} modules, ${kib(raw)}, ${kib(gz)} gzipped (limit ${kib(LIMIT)} gzipped)`);
if (gz > LIMIT) {
  console.error("The Worker is over the size limit of Workers Free; see what grew in the modules above.");
  process.exit(1);
}
