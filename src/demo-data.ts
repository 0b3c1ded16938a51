/**
 * @module
 * Demo data for a first start: API clients, each with a USD treasury of 1,000,000.00, and users,
 * each with an all-scope access token, a funded USD wallet and a default payout destination on
 * every rail, made through the same AdminService the admin API uses. Plaintext
 * secrets exist only in the returned credentials (written to DATA_DIR/demo-credentials.json by
 * the entry point); the store keeps hashes.
 */
import { AdminService } from "./core/admin.js";
import { SCOPES } from "./core/call-contract.js";
import { formatAmount } from "./core/money.js";
import { PAYOUT_RAILS, type PayoutRail } from "./ports/rails.js";
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
export const DEMO_TREASURY_MINOR = 100_000_000; // 1,000,000.00 USD
/** The demo treasury's funding id: names the one funding, so seeding again never credits twice. */
export const demoTreasuryFundingId = (clientId: number, currency = "USD") => `seed_treasury_${clientId}_${currency}`;

/** A demo user's default destination on each rail (n: the user's number, 0001...). */
export function demoDestination(rail: PayoutRail, n: string): Record<string, string> {
  switch (rail) {
    case "ach":
      return { routing_number: "110000000", account_number: `0001${n}` };
    case "card":
      return { card_token: `ctok_demo${n}` };
    case "paypal":
      return { email: `demo${n}@example.com` };
    case "venmo":
      return { handle: `@demo-${n}` };
    case "check":
      return { name: `Demo User ${n}`, address: `${Number(n)} Demo Street, Springfield` };
  }
}
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
  await seedDemoTreasury(store, hasher, { clientIds: creds.clients.map((c) => c.client_id), users: [] }, clock);
  const funding = formatAmount(DEMO_FUNDING_MINOR, "USD");
  for (let i = 0; i < opts.users; i++) {
    const n = String(i + 1).padStart(4, "0");
    const user = await admin.createUser({ email: `demo${n}@example.com`, firstName: "Demo", lastName: `User ${n}` });
    const { accessToken } = await admin.issueToken(user.userId, { scopes: [...SCOPES], expiresAt: null });
    const opened = await admin.openWallet(user.userId, "USD");
    const { wallet } = await admin.fundWallet(opened.walletId, { amount: funding, reason: "demo seed", idempotencyKey: `demo-seed:${opened.walletId}` });
    await seedDemoTreasury(store, hasher, { clientIds: [], users: [{ userId: user.userId, n }] }, clock);
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

/**
 * The demo treasuries and default destinations, made idempotently: each client's USD treasury
 * wallet is opened (or found) and funded once by its funding id (seed_treasury_<client id>_USD);
 * a user's destination is set on each rail that has none (an operator's change is kept). The
 * seed runs it; the Node entry point runs it again at each start for the demo credentials it
 * kept, so a store seeded before treasuries existed gets them, and a restart changes nothing.
 */
export async function seedDemoTreasury(
  store: Store,
  hasher: SecretHasher,
  demo: { clientIds: number[]; users: { userId: string; n: string }[] },
  clock: Clock = { now: () => Date.now() },
): Promise<void> {
  const admin = new AdminService(store, hasher, clock);
  for (const clientId of demo.clientIds) {
    if (!(await store.clients.findClient(clientId))) continue;
    await admin.openTreasuryWallet(clientId, "USD", {
      amount: formatAmount(DEMO_TREASURY_MINOR, "USD"),
      fundingId: demoTreasuryFundingId(clientId),
      reason: "demo seed: client treasury",
    });
  }
  for (const { userId, n } of demo.users) {
    if (!(await store.ledger.getUser(userId))) continue;
    for (const rail of PAYOUT_RAILS) {
      if (!(await store.treasury.defaultDestination(userId, rail))) await admin.setDestination(userId, rail, demoDestination(rail, n));
    }
  }
}

/** The demo numbers of seeded users (demo0001@example.com → 0001), for seedDemoTreasury at a restart. */
export function demoUsersOf(creds: DemoCredentials): { userId: string; n: string }[] {
  return creds.users.map((u, i) => ({ userId: u.user_id, n: String(i + 1).padStart(4, "0") }));
}
