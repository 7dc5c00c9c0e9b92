import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The Worker declares ADMIN_TOKEN as a required secret; the tests' value (also bound below).
process.env.ADMIN_TOKEN ??= "test-admin-token";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        main: "./src/worker.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            LOCAL_DEV: "true",
            ADMIN_TOKEN: "test-admin-token",
            TEST_MIGRATIONS: migrations,
            // The local target site started by test/support/global-setup.ts.
            TARGET_ORIGIN: inject<string>("targetOrigin"),
            // The same site on another loopback host, 127.0.0.3: where a request's headers and cookies must
            // not go after a redirect, and a second host for the politeness tests.
            SECOND_ORIGIN: inject<string>("secondOrigin"),
            // The counting server of test/support/global-setup.ts: loopback, which LOCAL_DEV allows,
            // so the guard is told to refuse it (src/config.ts, urlGuard).
            TEST_REFUSED_HOSTS: "127.0.0.2",
            // A receiver that never answers costs a test this long per attempt instead of 10 s.
            TEST_WEBHOOK_TIMEOUT_MS: "2000",
            // The webhook receiver of test/support/global-setup.ts (verifies with standardwebhooks).
            RECEIVER_ORIGIN: inject<string>("receiverOrigin"),
          },
          // wrangler.toml's consumers, but delivered as soon as a message is sent (the tests wait on
          // outcomes, not on batching). These replace the wrangler.toml entries whole, so every
          // setting that shapes behaviour (batch size, retries, dead-letter queue) is repeated here.
          queueConsumers: {
            "scrape-jobs": { maxBatchTimeout: 0, maxBatchSize: 50, maxRetries: 5, deadLetterQueue: "scrape-jobs-dlq" },
            "scrape-browser-jobs": { maxBatchTimeout: 0, maxBatchSize: 12, maxRetries: 5, deadLetterQueue: "scrape-jobs-dlq" },
            "scrape-jobs-dlq": { maxBatchTimeout: 0, maxBatchSize: 100 },
            "scrape-webhooks": {
              maxBatchTimeout: 0,
              maxBatchSize: 10,
              maxRetries: 20,
              deadLetterQueue: "scrape-webhooks-dlq",
            },
            "scrape-webhooks-dlq": { maxBatchTimeout: 0, maxBatchSize: 100 },
          },
        },
      })),
    ],
    test: {
      globalSetup: ["./test/support/global-setup.ts"],
      setupFiles: ["./test/support/apply-migrations.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      include: ["test/**/*.test.ts"],
      // Node-side tests of the developer tools, with their own config (vitest.node.config.ts).
      exclude: ["test/node/**", "**/node_modules/**"],
      // CI also writes a JSON report, from which .ci/run prints its "N passed, N failed" line.
      // VITEST_REPORT names the file when npm test runs vitest twice (the fairness scenarios alone).
      reporters: process.env.CI
        ? ["default", ["json", { outputFile: process.env.VITEST_REPORT ?? ".wrangler/vitest-report.json" }]]
        : ["default"],
    },
  };
});
