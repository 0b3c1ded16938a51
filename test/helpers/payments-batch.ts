/**
 * Shared by the atomic payment batch tests over HTTP (test/server, test/contract).
 */
import { expect } from "vitest";

/**
 * Sends 40 atomic batches of 10.00 + 20.00 + 30.00 from `payer` to the three `payees` at once,
 * spread over `bases`, and checks that each batch is wholly paid or wholly reversed, the payer
 * is never overdrawn and the sum of the four balances is conserved.
 */
export async function hammerOneWallet(bases: string[], payer: any, payees: any[]) {
  const users = [payer, ...payees];
  const wallet = (u: any) => u.wallets[0].wallet_id;
  const amounts = ["10.00", "20.00", "30.00"];
  const balance = async (u: any) => {
    const res = await fetch(`${bases[0]}/v2/wallet/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${u.access_token}` },
      body: JSON.stringify({ wallet_id: wallet(u) }),
    });
    return Math.round(Number(((await res.json()) as any).balance) * 100);
  };
  const before = await Promise.all(users.map(balance));
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      fetch(`${bases[i % bases.length]}/v1/payments/batch`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${payer.access_token}` },
        body: JSON.stringify({ payments: payees.slice(0, 3).map((p: any, j: number) => ({ from: wallet(payer), to: wallet(p), amount: amounts[j] })) }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })),
    ),
  );
  const paid = answers.filter((a) => a.status === 200);
  const undone = answers.filter((a) => a.status === 207);
  expect(paid.length + undone.length, JSON.stringify(answers.find((a) => a.status !== 200 && a.status !== 207))).toBe(40);
  // 1,000.00 holds at most 16 batches of 60.00 (fewer when a batch failed while another's
  // payments, later reversed, held the money).
  expect(paid.length).toBeGreaterThan(0);
  expect(paid.length).toBeLessThanOrEqual(16);
  expect(undone.length).toBeGreaterThan(0);
  for (const a of paid) expect(a.body.results.every((r: any) => r.status === "success" && !r.manualActionRequired)).toBe(true);
  for (const a of undone) {
    expect(a.body.results.every((r: any) => r.status === "reversed" || r.status === "failed"), JSON.stringify(a.body)).toBe(true);
    expect(a.body.summary.failed).toBeGreaterThan(0);
  }
  // Wholly applied or wholly reversed, as the ledger records it too.
  const find = async (id: string) => {
    const res = await fetch(`${bases[1 % bases.length]}/v2/payment/find`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${payer.access_token}` },
      body: JSON.stringify({ payment_id: id }),
    });
    return ((await res.json()) as any).status;
  };
  for (const a of [...paid, ...undone]) {
    for (const r of a.body.results) if (r.transactionId) expect(await find(r.transactionId)).toBe(a.status === 200 ? "completed" : "reversed");
  }
  const after = await Promise.all(users.map(balance));
  expect(after.reduce((s, v) => s + v, 0)).toBe(before.reduce((s, v) => s + v, 0));
  const n = paid.length;
  expect(after[0]).toBe(before[0] - n * 6_000);
  expect(after[0]).toBeGreaterThanOrEqual(0);
  expect(after.slice(1)).toEqual([before[1] + n * 1_000, before[2] + n * 2_000, before[3] + n * 3_000]);
}
