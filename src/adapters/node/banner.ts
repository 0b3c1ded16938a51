/**
 * @module
 * The start banner: where the gateway listens, the demo credentials and a ready-to-paste curl.
 * Shared by `npm start` (src/node.ts) and `npm run dev:worker` (scripts/dev-worker.ts) so both
 * print the same thing. Demo credentials go to stderr as plain text, never through the logger.
 */
import type { DemoCredentials } from "../../demo-data.js";

export function formatBanner(port: number, credsFile: string, creds: DemoCredentials | null, what = "Batchgate"): string {
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  out(`\n${what} is listening on http://localhost:${port}`);
  if (!creds || creds.clients.length === 0 || creds.users.length === 0) {
    out(`No demo credentials at ${credsFile}.`);
    return lines.join("\n") + "\n";
  }
  const client = creds.clients[0];
  const [a, b] = creds.users;
  out(`Demo credentials (all of them in ${credsFile}):`);
  for (const c of creds.clients) out(`  client_id ${c.client_id}  client_secret ${c.client_secret}`);
  for (const u of creds.users.slice(0, 3)) out(`  user ${u.user_id}  token ${u.access_token}  wallet ${u.wallets[0]?.wallet_id}`);
  if (creds.users.length > 3) out(`  ... and ${creds.users.length - 3} more users`);
  const payee = b ?? a;
  const body = {
    client_id: client.client_id,
    client_secret: client.client_secret,
    calls: [
      { call: "/user", authorization: a.access_token, reference_id: "1" },
      { call: "/wallet/list", authorization: a.access_token, reference_id: "2" },
      {
        call: "/payment/create",
        authorization: a.access_token,
        reference_id: "3",
        parameters: { from_wallet_id: a.wallets[0].wallet_id, to_wallet_id: payee.wallets[0].wallet_id, amount: "1.00", currency: "USD" },
      },
    ],
  };
  out(`\nTry it:\ncurl -s http://localhost:${port}/batch/create -H 'content-type: application/json' -d '${JSON.stringify(body)}'\n`);
  return lines.join("\n") + "\n";
}
