-- Local development only (npm start): the API key `dev-key` for tenant `dev`, stored as its SHA-256.
INSERT OR IGNORE INTO api_keys (key_id, tenant, name, key_hash, created_at)
VALUES ('00000000-0000-4000-8000-000000000000', 'dev', 'local development key',
        '7e9f8fd111802be56c379d597842e29b2cebd35ff2133d431a49fa556a18704e', '2026-01-01T00:00:00.000Z');
