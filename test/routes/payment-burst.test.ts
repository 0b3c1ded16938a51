/**
 * A burst of concurrent batches through the whole app (routes, engine, handlers, SQLite store):
 * many payments fail for want of funds, a third of the successes are reversed concurrently, and
 * afterwards the sum of wallet balances is unchanged, no wallet is negative, the double-entry
 * ledger is balanced, and every payment the caller was told about is in the ledger with the
 * amount it was told. This checks the route stack's bookkeeping, not store-level races: the
 * SQLite driver is synchronous, so one process never interleaves two store operations. Real
 * interleaving is in test/stores/sqlite.conservation.test.ts.
 */
import { describe, expect, it } from "vitest";
import { makeGateway, sum } from "../helpers/gateway.js";

describe("payment burst through the app", () => {
  it("a concurrent burst of payments and reversals changes no total and drives no wallet negative", async () => {
    const gw = await makeGateway({ users: 6, file: true, env: { TOKEN_RATE_LIMIT_POINTS: "100000", CLIENT_RATE_LIMIT_POINTS: "100000" } });
    const users = gw.creds.users;
    const before = await gw.balances();
    const rnd = (() => {
      let x = 42;
      return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    })();

    // 20 batches of 25 payments, all in flight at once; amounts big enough that many fail.
    const batches = Array.from({ length: 20 }, (_, b) => {
      const calls = Array.from({ length: 25 }, (_, i) => {
        const from = users[Math.floor(rnd() * users.length)];
        let to = users[Math.floor(rnd() * users.length)];
        if (to === from) to = users[(users.indexOf(from) + 1) % users.length];
        const amount = `${Math.floor(rnd() * 300) + 1}.${String(Math.floor(rnd() * 100)).padStart(2, "0")}`;
        return { call: "/payment/create", authorization: from.access_token, reference_id: `${b}-${i}`, parameters: { from_wallet_id: from.wallets[0].wallet_id, to_wallet_id: to.wallets[0].wallet_id, amount, currency: "USD" } };
      });
      return gw.batch(calls);
    });
    const results = (await Promise.all(batches)).flatMap((r) => r.body.calls);
    const ok = results.filter((r: any) => r.status === 200);
    const failed = results.filter((r: any) => r.status !== 200);
    expect(ok.length).toBeGreaterThan(50);
    expect(failed.length).toBeGreaterThan(10);
    expect(failed.every((r: any) => r.response.error === "insufficient_funds")).toBe(true);

    // Reverse a third of the successes concurrently (some may fail: the payee spent it).
    const toReverse = ok.filter((_: unknown, i: number) => i % 3 === 0);
    const payerToken = (p: any) => users.find((u) => u.wallets[0].wallet_id === p.from_wallet_id)!.access_token;
    await Promise.all(toReverse.map((r: any) => gw.call("/payment/reverse", payerToken(r.response), { payment_id: r.response.payment_id })));

    const after = await gw.balances();
    expect(sum(after)).toBe(sum(before));
    expect(Object.values(after).every((v) => v >= 0)).toBe(true);
    const audit = await gw.services.store.ledger.audit();
    expect(audit.entrySum).toBe(0);
    expect(audit.mismatchedWallets).toEqual([]);
    expect(audit.walletBalanceSum).toBe(sum(before));

    // Every successful payment is in the ledger with the amount the caller was told.
    for (const r of ok) {
      const p = await gw.services.store.ledger.getPayment(r.response.payment_id);
      expect(p).not.toBeNull();
      expect((p!.amount / 100).toFixed(2)).toBe(r.response.amount);
    }
  });
});
