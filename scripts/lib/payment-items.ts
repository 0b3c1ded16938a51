/**
 * Asynchronous-batch items that pay 0.01 around a ring of demo users (user i pays user i+1), one
 * per index, each with its own reference id and idempotency key. Shared by `npm run bench:async`
 * and the batch tests.
 */

interface DemoUser {
  access_token: string;
  wallets: { wallet_id: string }[];
}

export interface RingOptions {
  /** Every `failEvery`-th item (index failEvery-1, 2·failEvery-1, ...) asks for more than a wallet holds. */
  failEvery?: number;
  /** Adds `metadata: { i }` to each item. */
  metadata?: boolean;
}

export function ringPaymentItems(users: readonly DemoUser[], n: number, opts: RingOptions = {}) {
  return Array.from({ length: n }, (_, i) => {
    const from = users[i % users.length];
    const to = users[(i + 1) % users.length];
    const fails = opts.failEvery !== undefined && i % opts.failEvery === opts.failEvery - 1;
    return {
      call: "/payment/create",
      authorization: from.access_token,
      reference_id: `r${i}`,
      idempotency_key: `k${i}`,
      parameters: { from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount: fails ? "999999.00" : "0.01", currency: "USD" },
      ...(opts.metadata ? { metadata: { i } } : {}),
    };
  });
}
