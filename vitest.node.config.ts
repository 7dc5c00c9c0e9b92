import { defineConfig } from "vitest/config";

/**
 * The Node-side tests (test/node): the developer tools against a Worker running under `wrangler dev`, as
 * a user meets them: the docs page in Chromium, the CLI as a process (on a pipe and in a terminal), the
 * typed client, and the client's types against the served document. `npm test` runs them after the
 * Workers tests; one file, one Worker.
 */
export default defineConfig({
  test: {
    include: ["test/node/**/*.test.ts"],
    environment: "node",
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: process.env.CI
      ? ["default", ["json", { outputFile: process.env.VITEST_REPORT ?? ".wrangler/vitest-report-node.json" }]]
      : ["default"],
  },
});
