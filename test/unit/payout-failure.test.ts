/**
 * A rail's decline is told apart from an outage by the rail's answer, not by knowing the
 * sandbox: a non-sandbox rail here (a small RailProvider in the test) declines or is unreachable
 * with reasons the sandbox never uses, and a rerun of the same payout (same effect ref, as after
 * a crash before the idempotency record was stored) answers the same error without asking the rail.
 */
import { describe, expect, it } from "vitest";
import { openBetterSqlite } from "../../src/adapters/sqlite/better-sqlite3-driver.js";
import { SqlStore } from "../../src/adapters/sqlite/sql-store.js";
import type { CallContext } from "../../src/core/call-contract.js";
import { payoutHandlers } from "../../src/handlers/payouts.js";
import type { RailProvider, RailResult } from "../../src/ports/rails.js";
import type { Logger } from "../../src/ports/runtime.js";

const create = payoutHandlers.find((h) => h.name === "/payout/create")!;
const logger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => logger };

async function setup() {
  const store = new SqlStore(openBetterSqlite({ filename: ":memory:" }));
  await store.ledger.createUser({ userId: "usr_1", email: "a@example.com", firstName: "A", lastName: "B", createdAt: 1 });
  await store.ledger.createWallet({ walletId: "wal_1", userId: "usr_1", currency: "USD", createdAt: 1 }, 10_000);
  return store;
}

function ctx(store: SqlStore, rails: RailProvider, ref: string): CallContext {
  return {
    principal: { userId: "usr_1", scopes: new Set(["payouts:write"]) },
    authorization: null,
    ref,
    signal: new AbortController().signal,
    requestId: "req",
    logger,
    services: { ledger: store.ledger, rails, clock: { now: () => 1_000 }, fetch },
  };
}

const rail = (answer: RailResult): RailProvider & { asked: number } => {
  const r = {
    asked: 0,
    async send() {
      r.asked++;
      return answer;
    },
  };
  return r;
};
const params = { wallet_id: "wal_1", amount: "12.00", currency: "USD", rail: "ach", destination: { routing_number: "123456789", account_number: "12345678" } };

describe("payout failures by the rail's answer", () => {
  it.each([
    [{ status: "declined", reason: "insufficient_account_standing" } as RailResult, "payout_declined", "declined"],
    [{ status: "unavailable", reason: "gateway_down" } as RailResult, "rail_unavailable", "unavailable"],
  ])("%o is %s, recorded with its kind, and a rerun answers the same without the rail", async (answer, code, kind) => {
    const store = await setup();
    const first = rail(answer);
    const parsed = create.schema.parse(params);
    await expect(create.run(parsed, ctx(store, first, "0123456789abcdef0123456789"))).rejects.toMatchObject({ code });
    expect(await store.ledger.getPayout("po_0123456789abcdef0123456789")).toMatchObject({ status: "failed", failureCode: (answer as { reason: string }).reason, failureKind: kind });
    expect((await store.ledger.getWallet("wal_1"))!.balance).toBe(10_000);
    const second = rail({ status: "completed", providerReference: "should not be asked" });
    await expect(create.run(parsed, ctx(store, second, "0123456789abcdef0123456789"))).rejects.toMatchObject({ code });
    expect(second.asked).toBe(0);
  });
});
