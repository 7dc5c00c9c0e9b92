/** The Durable Object for a run, or for a tenant's Idempotency-Key: the one place their names are built. */
export const runObject = (env: Env, runId: string) => env.RUNS.get(env.RUNS.idFromName(runId));
export const idempotencyObject = (env: Env, tenant: string, key: string) =>
  env.IDEMPOTENCY.get(env.IDEMPOTENCY.idFromName(`${tenant}\u0000${key}`));
/** A tenant's HostGate: the per-host politeness of all its runs. */
export const hostGate = (env: Env, tenant: string) => env.HOST_GATES.get(env.HOST_GATES.idFromName(tenant));
