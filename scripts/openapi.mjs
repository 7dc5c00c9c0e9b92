#!/usr/bin/env node
// The OpenAPI document of the app, without a server: the Worker's routes are bundled for Node and the
// document is built from them exactly as GET /v1/openapi.json builds it (openApiDocument in src/http/app.ts).
//   node scripts/openapi.mjs [--out FILE] [--server URL]
// Writes the JSON to FILE (default: stdout). The lint (npm run check) and the client's type generation
// (npm run client:types) both read it; the node tests compare the types with the document the Worker serves.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The origin `npm start` serves on: the document's `servers` entry when none is given. */
const DEV_ORIGIN = "http://127.0.0.1:8787";

/**
 * Modules of the Workers runtime the route files import (the Durable Object base classes). Building the
 * document never constructs an object or opens a browser, so empty classes are enough for the bundle to load.
 */
const runtimeOnly = {
  name: "runtime-only",
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (a) => ({ path: a.path, namespace: "runtime-only" }));
    b.onLoad({ filter: /.*/, namespace: "runtime-only" }, () => ({
      contents: "export class DurableObject {}; export class WorkerEntrypoint {}; export const env = {};",
      loader: "js",
    }));
    // wrangler.toml bundles the docs page's script as text; so does this build.
    b.onLoad({ filter: /@scalar[\\/]api-reference[\\/]dist[\\/]browser[\\/]standalone\.js$/ }, (a) => ({
      contents: fs.readFileSync(a.path),
      loader: "text",
    }));
  },
};

export async function openApiDocument(server = DEV_ORIGIN) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openapi-"));
  const outfile = path.join(dir, "app.mjs");
  try {
    await build({
      stdin: {
        contents: 'export { buildApp, openApiDocument } from "./src/http/app.ts";',
        resolveDir: ROOT,
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile,
      logLevel: "error",
      plugins: [runtimeOnly],
      // Only used when a browser job runs, never to document a route.
      external: ["@cloudflare/puppeteer"],
    });
    const mod = await import(pathToFileURL(outfile).href);
    return mod.openApiDocument(mod.buildApp(), server);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const doc = await openApiDocument(opt("--server") ?? DEV_ORIGIN);
  const json = `${JSON.stringify(doc, null, 2)}\n`;
  const out = opt("--out");
  if (out) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, json);
  } else process.stdout.write(json);
}
