export interface KeyRow {
  key_id: string;
  tenant: string;
}

export const insertKey = (
  db: D1Database,
  k: { key_id: string; tenant: string; name: string | null; key_hash: string; created_at: string },
) =>
  db
    .prepare("INSERT INTO api_keys (key_id, tenant, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
    .bind(k.key_id, k.tenant, k.name, k.key_hash, k.created_at)
    .run();

/**
 * The active key with this hash. With `collectionId`, the same statement also says whether the
 * key's tenant has that collection, not deleted (`collection_live` 1 or 0; null without one): every
 * request under a collection needs the answer, and asking here costs no statement of its own.
 */
export const findActiveKeyByHash = (db: D1Database, keyHash: string, collectionId: string | null = null) =>
  db
    .prepare(
      `SELECT key_id, tenant,
         CASE WHEN ?2 IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM collections c
           WHERE c.id = ?2 AND c.tenant = api_keys.tenant AND c.deleted_at IS NULL) END AS collection_live
       FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL`,
    )
    .bind(keyHash, collectionId)
    .first<KeyRow & { collection_live: number | null }>();

/** Returns whether a key was revoked by this call (false: unknown or already revoked). */
export async function revokeKey(db: D1Database, keyId: string, at: string): Promise<boolean> {
  const r = await db
    .prepare("UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1 AND revoked_at IS NULL")
    .bind(keyId, at)
    .run();
  return r.meta.changes > 0;
}
