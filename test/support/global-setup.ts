import type { TestProject } from "vitest/node";
import { startRefusedSite, startSecondHost, startTargetSite } from "./target-site";

/**
 * Starts the local target site (the stand-in for the outside web) once for the whole suite, and
 * the server on 127.0.0.2 that the tests' URL guard refuses (vitest.config.ts, TEST_REFUSED_HOSTS).
 */
export default async function setup(project: TestProject) {
  const site = await startTargetSite();
  const refused = await startRefusedSite("127.0.0.2");
  const second = await startSecondHost();
  project.provide("targetOrigin", site.origin);
  project.provide("secondOrigin", second.origin);
  return async () => {
    await Promise.all([site.close(), refused.close(), second.close()]);
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    targetOrigin: string;
    secondOrigin: string;
  }
}
