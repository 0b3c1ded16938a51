/**
 * @module
 * The sandbox payout rail: deterministic by the amount's last two minor-unit digits, so users
 * and tests can trigger every outcome (README "Sandbox payouts").
 *
 * | minor units mod 100 | outcome |
 * |---|---|
 * | 13 | declined by the rail (payout_declined; wallet refunded) |
 * | 14 | rail unavailable (rail_unavailable; wallet refunded) |
 * | 15 | pending (stays pending until cancelled) |
 * | 16 | the rail hangs until the call's deadline aborts it (call_timeout; wallet refunded) |
 * | anything else | completed (rail `check` is always pending: a mailed check) |
 */
import type { RailPayout, RailProvider, RailResult } from "../../ports/rails.js";

export const DECLINE_REASON = "destination_rejected";
export const SANDBOX_OUTCOMES = { declined: 13, unavailable: 14, pending: 15, hang: 16 } as const;

export class SandboxRail implements RailProvider {
  async send(payout: RailPayout, signal: AbortSignal): Promise<RailResult> {
    const cents = payout.amount % 100;
    const ref = `sbx_${payout.payoutId}`;
    switch (cents) {
      case SANDBOX_OUTCOMES.declined:
        return { status: "declined", reason: DECLINE_REASON };
      case SANDBOX_OUTCOMES.unavailable:
        return { status: "unavailable", reason: "rail_unavailable" };
      case SANDBOX_OUTCOMES.pending:
        return { status: "pending", providerReference: ref };
      case SANDBOX_OUTCOMES.hang:
        await new Promise<void>((resolve) => {
          if (signal.aborted) return resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return { status: "unavailable", reason: "rail_timeout" };
    }
    return { status: payout.rail === "check" ? "pending" : "completed", providerReference: ref };
  }
}
