/** Typed stubs, so callers never build Durable Object names by hand. */
export const runStub = (env: Env, runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
export const idempotencyStub = (env: Env, tenant: string, key: string) => env.IDEMPOTENCY.get(env.IDEMPOTENCY.idFromName(`${tenant}\u0000${key}`));
