#!/usr/bin/env node
// The `scrape-api` command (package.json `bin`; `npx scrape-api` in this repository). The CLI is
// TypeScript, built for Node 20+ at `npm install`; rebuilt here when its sources changed since.
import { pathToFileURL } from "node:url";
import { buildCli, CLI_BUILD, stale } from "../scripts/build-client.mjs";

if (stale()) {
  try {
    await buildCli();
  } catch (e) {
    console.error(`scrape-api: building the CLI failed (${e?.message ?? e}); run \`npm install\` in the repository.`);
    process.exit(1);
  }
}
const { main } = await import(pathToFileURL(CLI_BUILD).href);
process.exitCode = await main(process.argv.slice(2));
