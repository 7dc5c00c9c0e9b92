import type { TestProject } from "vitest/node";
import { startRefusedSite, startTargetSite } from "./target-site";
import { startReceiver } from "./webhook-receiver";

/**
 * Starts the local target site (the stand-in for the outside web) once for the whole suite, and
 * the server on 127.0.0.2 that the tests' URL guard refuses (vitest.config.ts, TEST_REFUSED_HOSTS), and
 * the same site on 127.0.0.3: another host, which a request's headers and cookies must not reach; and the
 * webhook receiver the deliveries go to.
 */
export default async function setup(project: TestProject) {
  const site = await startTargetSite();
  const refused = await startRefusedSite("127.0.0.2");
  const second = await startTargetSite(0, "127.0.0.3");
  const receiver = await startReceiver();
  project.provide("targetOrigin", site.origin);
  project.provide("secondOrigin", second.origin);
  project.provide("receiverOrigin", receiver.origin);
  return async () => {
    await Promise.all([site.close(), refused.close(), second.close(), receiver.close()]);
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    targetOrigin: string;
    secondOrigin: string;
    receiverOrigin: string;
  }
}
