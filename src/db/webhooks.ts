/** The per-tenant webhook signing secret (webhook_secrets): rows in, rows out. */
export interface SecretRow {
  tenant: string;
  secret: string;
  previous_secret: string | null;
  previous_until: string | null;
  created_at: string;
}

/** Whether the rotated-out secret still signs (for 24 h after a rotation). */
export const previousStillSigns = (row: SecretRow, nowMs: number): boolean =>
  row.previous_until !== null && Date.parse(row.previous_until) > nowMs;

/**
 * The tenant's secret, created with `fresh` when it has none. Insert and read are one batch, so two
 * first uses at once agree on one secret.
 */
export async function ensureSecret(db: D1Database, tenant: string, fresh: string, at: string): Promise<SecretRow> {
  const [, read] = await db.batch([
    db
      .prepare("INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
      .bind(tenant, fresh, at),
    db.prepare("SELECT * FROM webhook_secrets WHERE tenant = ?1").bind(tenant),
  ]);
  return (read.results as SecretRow[])[0];
}

/**
 * Replaces the tenant's secret with `fresh`; the replaced one keeps signing until `previousUntil`.
 * A second rotation within that time drops the oldest: two secrets sign at most.
 */
export async function rotateSecret(
  db: D1Database,
  r: { tenant: string; fresh: string; at: string; previousUntil: string },
): Promise<SecretRow> {
  const row = await db
    .prepare(
      `INSERT INTO webhook_secrets (tenant, secret, created_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (tenant) DO UPDATE SET previous_secret = secret, previous_until = ?4, secret = ?2, created_at = ?3
       RETURNING *`,
    )
    .bind(r.tenant, r.fresh, r.at, r.previousUntil)
    .first<SecretRow>();
  return row!;
}
