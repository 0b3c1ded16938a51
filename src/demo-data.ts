/**
 * @module
 * Demo data for a first start: API clients and users, each user with an all-scope access token
 * and a funded USD wallet, made through the same AdminService the admin API uses. Plaintext
 * secrets exist only in the returned credentials (written to DATA_DIR/demo-credentials.json by
 * the entry point); the store keeps hashes.
 */
import { AdminService } from "./core/admin.js";
import { SCOPES } from "./core/call-contract.js";
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
  const clock = opts.clock ?? { now: () => Date.now() };
  const now = clock.now();
  if (await store.meta.getMeta(SEEDED_KEY)) return null;
  if (!(await store.meta.claimMeta(SEED_CLAIM_KEY, new Date(now).toISOString()))) return null;
  const admin = new AdminService(store, hasher, clock);
  const creds: DemoCredentials = { clients: [], users: [] };
  for (let i = 0; i < (opts.clients ?? 2); i++) {
    const { client, clientSecret } = await admin.createClient(`Demo client ${i + 1}`);
    creds.clients.push({ client_id: client.clientId, client_secret: clientSecret });
  }
  const funding = formatAmount(DEMO_FUNDING_MINOR, "USD");
  for (let i = 0; i < opts.users; i++) {
    const n = String(i + 1).padStart(4, "0");
    const user = await admin.createUser({ email: `demo${n}@example.com`, firstName: "Demo", lastName: `User ${n}` });
    const { accessToken } = await admin.issueToken(user.userId, { scopes: [...SCOPES], expiresAt: null });
    const opened = await admin.openWallet(user.userId, "USD");
    const { wallet } = await admin.fundWallet(opened.walletId, { amount: funding, reason: "demo seed", idempotencyKey: `demo-seed:${opened.walletId}` });
    creds.users.push({
      user_id: user.userId,
      access_token: accessToken,
      scopes: [...SCOPES],
      wallets: [{ wallet_id: wallet.walletId, currency: wallet.currency, balance: formatAmount(wallet.balance, wallet.currency) }],
    });
  }
  await admin.record({ actor: "seed", requestId: "seed" }, "demo.seed", "demo", { clients: creds.clients.map((c) => c.client_id), users: opts.users });
  await store.meta.setMeta(SEEDED_KEY, new Date(now).toISOString());
  return creds;
}
