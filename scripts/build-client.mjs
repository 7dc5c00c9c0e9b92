#!/usr/bin/env node
// Builds the CLI (client/cli.ts and the typed client it uses) into client/dist/cli.mjs: one ES module
// for Node 20 and later, openapi-fetch included, so `scrape-api` runs with whatever Node is installed.
// Runs at `npm install` (prepare) and from bin/scrape-api.mjs whenever a source is newer than the build.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CLI_BUILD = path.join(ROOT, "client", "dist", "cli.mjs");
const SOURCES = path.join(ROOT, "client");

/** Whether the build is missing or older than a source of it. */
export function stale() {
  if (!fs.existsSync(CLI_BUILD)) return true;
  const built = fs.statSync(CLI_BUILD).mtimeMs;
  return fs
    .readdirSync(SOURCES)
    .filter((f) => f.endsWith(".ts"))
    .some((f) => fs.statSync(path.join(SOURCES, f)).mtimeMs > built);
}

export async function buildCli() {
  const { build } = await import("esbuild");
  await build({
    entryPoints: [path.join(SOURCES, "cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: CLI_BUILD,
    logLevel: "error",
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildCli();
