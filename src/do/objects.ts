/** The Durable Object for a run, or for a tenant's Idempotency-Key: the one place their names are built. */
export const runObject = (env: Env, runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
export const idempotencyObject = (env: Env, tenant: string, key: string) =>
  env.IDEMPOTENCY.get(env.IDEMPOTENCY.idFromName(`${tenant}\u0000${key}`));
