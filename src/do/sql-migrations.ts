/**
 * Versioned schema of an object's SQLite: `migrations[v]` takes version v to v + 1, and the version
 * reached is kept in `schema_version`, so an object created by an older deploy is brought up to date
 * (and one already current runs nothing).
 */
export function applyMigrations(sql: SqlStorage, migrations: readonly string[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
  const from = row?.version ?? 0;
  for (let v = from; v < migrations.length; v++) sql.exec(migrations[v]);
  if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (?)", migrations.length);
  else if (from < migrations.length) sql.exec("UPDATE schema_version SET version = ?", migrations.length);
}
