/**
 * @module
 * The SQL schema as versioned migrations, run the same way on better-sqlite3 (Node) and Durable
 * Object storage (Workers) through the SqlDriver.
 *
 * `schema_migrations` records each applied version. At open, every migration not yet recorded
 * runs once, in version order, each in its own transaction together with its record: a failing
 * migration rolls back entirely and leaves the version where it was. A database written by a
 * newer gateway (a version this code does not know) is refused rather than guessed at.
 *
 * To change the schema, append a migration with the next version; never edit an applied one.
 * Migration 1 is the schema from before versioning and uses CREATE ... IF NOT EXISTS, so a
 * database created then (tables present, no version table) is adopted as version 1 unchanged.
 */
import { ASYNC_BATCH_EVENTS_MIGRATION_SQL, ASYNC_BATCHES_MIGRATION_SQL, PAYOUT_ITEMS_MIGRATION_SQL } from "./sql-batches.js";
import type { SqlDriver } from "./driver.js";
import { TREASURY_MIGRATION_SQL } from "./sql-treasury.js";

export interface Migration {
  version: number;
  name: string;
  /** Statements without parameters, run in one transaction. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "ledger, credentials, idempotency, meta",
    sql: `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
  client_id INTEGER PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  user_id TEXT PRIMARY KEY, email TEXT NOT NULL, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id), scopes TEXT NOT NULL,
  expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wallets (
  wallet_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(user_id), currency TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0), created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS wallets_user ON wallets(user_id);
CREATE TABLE IF NOT EXISTS payments (
  payment_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, from_wallet_id TEXT NOT NULL, to_wallet_id TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, description TEXT,
  status TEXT NOT NULL, created_at INTEGER NOT NULL, reversed_at INTEGER);
CREATE TABLE IF NOT EXISTS payouts (
  payout_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, wallet_id TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL, rail TEXT NOT NULL, destination TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
  failure_code TEXT, provider_reference TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_entries (
  entry_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, amount INTEGER NOT NULL,
  kind TEXT NOT NULL, ref_id TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries(account);
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
  status INTEGER, body TEXT, locked_until INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key));
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency(expires_at);
`,
  },
  {
    version: 2,
    name: "payout failure kind (declined or unavailable)",
    sql: "ALTER TABLE payouts ADD COLUMN failure_kind TEXT;",
  },
  {
    version: 3,
    name: "idempotency claim owner (leases)",
    sql: "ALTER TABLE idempotency ADD COLUMN owner TEXT NOT NULL DEFAULT '';",
  },
  {
    version: 4,
    name: "atomic payment batch journal and item keys",
    sql: `
CREATE TABLE payment_batches (
  batch_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL, journal TEXT NOT NULL,
  lease_owner TEXT NOT NULL, lease_until INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX payment_batches_running ON payment_batches(status, lease_until);
CREATE TABLE payment_item_keys (
  scope TEXT NOT NULL, key TEXT NOT NULL, batch_id TEXT NOT NULL, payment_id TEXT NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (scope, key));
`,
  },
  {
    version: 5,
    name: "admin: client and wallet status, token ids and revocation time, fundings, audit log",
    sql: `
ALTER TABLE clients ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE tokens ADD COLUMN token_id TEXT;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
UPDATE tokens SET token_id = 'tok_' || substr(token_hash, 1, 26) WHERE token_id IS NULL;
CREATE UNIQUE INDEX tokens_token_id ON tokens(token_id);
CREATE INDEX tokens_user ON tokens(user_id, created_at);
ALTER TABLE wallets ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
CREATE TABLE fundings (
  funding_id TEXT PRIMARY KEY, wallet_id TEXT NOT NULL REFERENCES wallets(wallet_id),
  amount INTEGER NOT NULL CHECK (amount > 0), currency TEXT NOT NULL, reason TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE admin_audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, audit_id TEXT NOT NULL UNIQUE, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, request_id TEXT NOT NULL, details TEXT NOT NULL, created_at INTEGER NOT NULL);
`,
  },
  {
    version: 6,
    name: "credentials version: a random epoch and a counter (the exact principal cache)",
    sql: `
INSERT OR IGNORE INTO meta (key, value) VALUES ('credentials_epoch', lower(hex(randomblob(8))));
INSERT OR IGNORE INTO meta (key, value) VALUES ('credentials_version', '0');
`,
  },
  {
    version: 7,
    name: "webhook endpoints, outbox messages and delivery attempts",
    sql: `
CREATE TABLE webhook_endpoints (
  endpoint_id TEXT PRIMARY KEY, client_id INTEGER NOT NULL, url TEXT NOT NULL, event_types TEXT,
  item_events INTEGER NOT NULL, description TEXT, status TEXT NOT NULL, disabled_reason TEXT,
  secret_cipher TEXT NOT NULL, previous_secret_cipher TEXT, previous_secret_expires_at INTEGER,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX webhook_endpoints_client ON webhook_endpoints(client_id, created_at);
CREATE TABLE webhook_messages (
  message_id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, client_id INTEGER NOT NULL,
  event_id TEXT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
  attempts INTEGER NOT NULL, schedule_base INTEGER NOT NULL, due_at INTEGER, lease_owner TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  UNIQUE (endpoint_id, event_id));
CREATE INDEX webhook_messages_due ON webhook_messages(due_at) WHERE due_at IS NOT NULL;
CREATE TABLE webhook_attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, attempt_id TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, attempt INTEGER NOT NULL,
  manual INTEGER NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
  status_code INTEGER, error TEXT, outcome TEXT NOT NULL, next_attempt_at INTEGER);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, seq);
`,
  },
  {
    version: 8,
    name: "asynchronous batches",
    sql: ASYNC_BATCHES_MIGRATION_SQL,
  },
  {
    version: 9,
    name: "asynchronous batch events owed",
    sql: ASYNC_BATCH_EVENTS_MIGRATION_SQL,
  },
  {
    version: 10,
    name: "treasury wallets (one per client and currency) and users' default payout destinations",
    sql: TREASURY_MIGRATION_SQL,
  },
  {
    version: 11,
    name: "payout items: customer batch and transaction ids",
    sql: PAYOUT_ITEMS_MIGRATION_SQL,
  },
  {
    version: 12,
    name: "wallets version: a counter every write to wallets bumps, by trigger (the exact wallet cache)",
    // A later migration that rebuilds the wallets table must create these triggers again
    // (test/stores/wallet-cache.test.ts fails if a write to wallets leaves the version alone).
    sql: `
INSERT OR IGNORE INTO meta (key, value) VALUES ('wallets_version', '0');
CREATE TRIGGER wallets_version_insert AFTER INSERT ON wallets BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'wallets_version'; END;
CREATE TRIGGER wallets_version_update AFTER UPDATE ON wallets BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'wallets_version'; END;
CREATE TRIGGER wallets_version_delete AFTER DELETE ON wallets BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'wallets_version'; END;
`,
  },
];

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MigrationError";
  }
}

/** The highest applied version, 0 for a database without migrations. */
export function schemaVersion(db: SqlDriver): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
  return Number(db.get<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations")?.v ?? 0);
}

/** Applies every pending migration in order; returns the versions applied now. */
export function migrate(db: SqlDriver, migrations: readonly Migration[] = MIGRATIONS, now: () => number = () => Date.now()): number[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migration ${m.name} has version ${m.version}; versions must be 1, 2, 3... in order`);
  });
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new MigrationError(`the database is at schema version ${current}, newer than this gateway knows (${migrations.length}); refusing to run on it`);
  }
  const applied: number[] = [];
  for (const m of migrations.slice(current)) {
    try {
      db.transaction(() => {
        // Another connection may have applied it since we looked: the transaction serializes us.
        if (db.get("SELECT 1 AS one FROM schema_migrations WHERE version = ?", [m.version])) return;
        db.exec(m.sql);
        db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [m.version, m.name, now()]);
        applied.push(m.version);
      });
    } catch (e) {
      throw new MigrationError(`migration ${m.version} (${m.name}) failed and was rolled back: ${(e as Error).message}`, { cause: e });
    }
  }
  return applied;
}
