/**
 * @module
 * Demo data for a first start: API clients and users, each user with an all-scope access token
 * and a funded USD wallet. Plaintext secrets exist only in the returned credentials (written to
 * DATA_DIR/demo-credentials.json by the entry point); the store keeps hashes.
 */
import { SCOPES } from "./core/call-contract.js";
import { newId } from "./core/ids.js";
import { newSecret } from "./core/secrets.js";
import { formatAmount } from "./core/money.js";
import type { Clock, SecretHasher } from "./ports/runtime.js";
import type { Store } from "./ports/store.js";

export interface DemoCredentials {
  clients: { client_id: number; client_secret: string }[];
  users: {
    user_id: string;
    access_token: string;
    scopes: string[];
    wallets: { wallet_id: string; currency: string; balance: string }[];
  }[];
}

export const DEMO_FUNDING_MINOR = 100_000; // 1,000.00 USD
const SEED_CLAIM_KEY = "demo_seed_claimed_at";
const SEEDED_KEY = "demo_seeded_at";
const FIRST_CLIENT_ID = 100001;

export interface SeedOptions {
  users: number;
  clients?: number;
  clock?: Clock;
}

/**
 * Seeds once per store, even with several instances starting at once on one shared store: the
 * instance that claims the seed marker seeds and gets the credentials; every other gets null.
 */
export async function seedDemoData(store: Store, hasher: SecretHasher, opts: SeedOptions): Promise<DemoCredentials | null> {
  const now = (opts.clock ?? { now: () => Date.now() }).now();
  if (await store.meta.getMeta(SEEDED_KEY)) return null;
  if (!(await store.meta.claimMeta(SEED_CLAIM_KEY, new Date(now).toISOString()))) return null;
  const creds: DemoCredentials = { clients: [], users: [] };
  for (let i = 0; i < (opts.clients ?? 2); i++) {
    const secret = newSecret("cs_");
    const clientId = FIRST_CLIENT_ID + i;
    await store.clients.createClient({ clientId, name: `Demo client ${i + 1}`, secretHash: await hasher.sha256Hex(secret), createdAt: now });
    creds.clients.push({ client_id: clientId, client_secret: secret });
  }
  for (let i = 0; i < opts.users; i++) {
    const n = String(i + 1).padStart(4, "0");
    const userId = newId("usr", now);
    await store.ledger.createUser({ userId, email: `demo${n}@example.com`, firstName: "Demo", lastName: `User ${n}`, createdAt: now });
    const token = newSecret("at_");
    await store.tokens.createToken({ tokenHash: await hasher.sha256Hex(token), userId, scopes: [...SCOPES], expiresAt: null, revoked: false, createdAt: now });
    const wallet = await store.ledger.createWallet({ walletId: newId("wal", now), userId, currency: "USD", createdAt: now }, DEMO_FUNDING_MINOR);
    creds.users.push({
      user_id: userId,
      access_token: token,
      scopes: [...SCOPES],
      wallets: [{ wallet_id: wallet.walletId, currency: wallet.currency, balance: formatAmount(wallet.balance, wallet.currency) }],
    });
  }
  await store.meta.setMeta(SEEDED_KEY, new Date(now).toISOString());
  return creds;
}
