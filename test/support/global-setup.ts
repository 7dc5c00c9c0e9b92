import type { TestProject } from "vitest/node";
import { startTargetSite } from "./target-site";

/** Starts the local target site (the stand-in for the outside web) once for the whole suite. */
export default async function setup(project: TestProject) {
  const site = await startTargetSite();
  project.provide("targetOrigin", site.origin);
  return async () => {
    await site.close();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    targetOrigin: string;
  }
}
