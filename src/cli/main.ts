/**
 * @module
 * `batchgate`: the operators' command line over the admin API (/admin/v1). Human-readable tables
 * by default, `--json` for scripts. The admin key comes from BATCHGATE_ADMIN_KEY, the gateway's
 * address from `--url` (default BATCHGATE_URL, else http://127.0.0.1:8787).
 *
 * `batchgate payouts …` (src/cli/payouts.ts) is the API client's side: mass payouts from a CSV.
 *
 * Exit codes (src/cli/exit.ts): 0 done; 1 the gateway refused the request (4xx: bad input, not
 * found, ...) or a payouts file has bad rows; 2 the command line itself is wrong (unknown command,
 * missing argument, bad option, no key); 3 the gateway could not be reached or failed (5xx);
 * 4 a waited-for payout batch ended with items not paid.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ApiClient, ApiError } from "./api.js";
import { EXIT, ExitWith, UsageError } from "./exit.js";
import { record, type Row, table } from "./format.js";
import { type PayoutsIo, registerPayouts } from "./payouts.js";

export { EXIT };

type Io = PayoutsIo;

const defaultIo: Io = {
  out: (s) => process.stdout.write(s.endsWith("\n") ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith("\n") ? s : `${s}\n`),
  env: process.env,
  progress: process.stderr,
};

interface List<T = Row> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

const positiveInt = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("must be a positive whole number");
  return Number(v);
};
const clientIdArg = (v: string) => {
  if (!/^\d{1,19}$/.test(v)) throw new InvalidArgumentError("must be a numeric client id");
  return v;
};
const scopesArg = (v: string) => v.split(/[,\s]+/).filter(Boolean);

/** Runs the CLI with `argv` (as process.argv); resolves to the exit code. */
export async function run(argv: string[], io: Io = defaultIo): Promise<number> {
  const program = new Command("batchgate")
    .description("Operate a Batchgate gateway: clients, users, tokens and wallets through the admin API; mass payouts from a CSV as an API client.")
    .option("--url <url>", "the gateway's base URL", io.env.BATCHGATE_URL ?? "http://127.0.0.1:8787")
    .option("--json", "print the API's JSON instead of tables")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  let pending: Promise<void> | null = null;
  /** Wraps an action: builds the admin client from the global options and prints the result. */
  const action =
    <A extends unknown[]>(fn: (api: ApiClient, ...args: A) => Promise<{ json: unknown; human: string }>) =>
    (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const globals = cmd.optsWithGlobals() as { url: string; json?: boolean };
      const key = io.env.BATCHGATE_ADMIN_KEY;
      pending = (async () => {
        if (!key) throw new UsageError("BATCHGATE_ADMIN_KEY is not set: export the gateway's ADMIN_API_KEY as BATCHGATE_ADMIN_KEY.");
        const api = new ApiClient({ url: globals.url, bearer: key, fetch: io.fetch });
        const out = await fn(api, ...(args.slice(0, -1) as A));
        io.out(globals.json ? JSON.stringify(out.json, null, 2) : out.human);
      })();
    };

  const shownOnce = (what: string) => `\n${what} is shown once: store it now; the gateway keeps only its hash.`;
  const listOut = (l: List, columns: string[]) => ({
    json: l,
    human: `${table(l.data, columns)}${l.has_more ? `\nmore: --starting-after ${l.next_cursor}` : ""}`,
  });

  const clients = program.command("clients").description("API clients (the partners' client_id / client_secret)");
  clients
    .command("create")
    .description("create an API client; prints its secret once")
    .requiredOption("--name <name>", "a name for the client")
    .action(
      action(async (api, opts: { name: string }) => {
        const c = await api.post<Row>("/admin/v1/clients", { name: opts.name });
        return { json: c, human: record(c, ["client_id", "name", "status", "created_at", "client_secret"]) + shownOnce("client_secret") };
      }),
    );
  clients
    .command("rotate")
    .description("give a client a new secret (the old one stops working); prints it once")
    .argument("<client_id>", "the client", clientIdArg)
    .action(
      action(async (api, id: string) => {
        const c = await api.post<Row>(`/admin/v1/clients/${id}/rotate-secret`);
        return { json: c, human: record(c, ["client_id", "name", "status", "client_secret"]) + shownOnce("client_secret") };
      }),
    );
  clients
    .command("disable")
    .description("disable a client: its credentials stop working everywhere")
    .argument("<client_id>", "the client", clientIdArg)
    .action(
      action(async (api, id: string) => {
        const c = await api.post<Row>(`/admin/v1/clients/${id}/disable`);
        return { json: c, human: record(c, ["client_id", "name", "status"]) };
      }),
    );

  program
    .command("users")
    .description("end users")
    .command("create")
    .description("create a user")
    .requiredOption("--email <email>", "the user's email")
    .requiredOption("--first-name <name>", "first name")
    .requiredOption("--last-name <name>", "last name")
    .action(
      action(async (api, o: { email: string; firstName: string; lastName: string }) => {
        const u = await api.post<Row>("/admin/v1/users", { email: o.email, first_name: o.firstName, last_name: o.lastName });
        return { json: u, human: record(u) };
      }),
    );

  const tokens = program.command("tokens").description("users' access tokens");
  tokens
    .command("issue")
    .description("issue an access token for a user; prints it once")
    .argument("<user_id>", "the user")
    .requiredOption("--scopes <scopes>", "comma-separated scopes, e.g. user:read,wallets:read", scopesArg)
    .addOption(new Option("--expires-at <iso>", "expiry as an ISO 8601 time").conflicts("expiresIn"))
    .addOption(new Option("--expires-in <seconds>", "expiry in seconds from now").argParser(positiveInt))
    .action(
      action(async (api, userId: string, o: { scopes: string[]; expiresAt?: string; expiresIn?: number }) => {
        let expiresAt = o.expiresAt;
        if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt))) throw new UsageError(`--expires-at ${JSON.stringify(expiresAt)} is not an ISO 8601 time.`);
        if (o.expiresIn !== undefined) expiresAt = new Date(Date.now() + o.expiresIn * 1000).toISOString();
        const t = await api.post<Row>(`/admin/v1/users/${encodeURIComponent(userId)}/tokens`, { scopes: o.scopes, ...(expiresAt ? { expires_at: expiresAt } : {}) });
        return { json: t, human: record(t, ["token_id", "user_id", "scopes", "status", "expires_at", "access_token"]) + shownOnce("access_token") };
      }),
    );
  tokens
    .command("list")
    .description("list a user's tokens (never the tokens themselves)")
    .argument("<user_id>", "the user")
    .action(
      action(async (api, userId: string) =>
        listOut(await api.get<List>(`/admin/v1/users/${encodeURIComponent(userId)}/tokens`), ["token_id", "scopes", "status", "expires_at", "revoked_at", "created_at"]),
      ),
    );
  tokens
    .command("revoke")
    .description("revoke a token: its next call fails invalid_token everywhere")
    .argument("<token_id>", "the token's id (from tokens list), not the token")
    .action(
      action(async (api, tokenId: string) => {
        const t = await api.post<Row>(`/admin/v1/tokens/${encodeURIComponent(tokenId)}/revoke`);
        return { json: t, human: record(t, ["token_id", "user_id", "status", "revoked_at"]) };
      }),
    );

  const wallets = program.command("wallets").description("users' wallets");
  const walletFields = ["wallet_id", "user_id", "currency", "balance", "frozen", "created_at"];
  wallets
    .command("open")
    .description("open a wallet for a user")
    .argument("<user_id>", "the user")
    .requiredOption("--currency <code>", "ISO 4217 currency, e.g. USD")
    .action(
      action(async (api, userId: string, o: { currency: string }) => {
        const w = await api.post<Row>(`/admin/v1/users/${encodeURIComponent(userId)}/wallets`, { currency: o.currency });
        return { json: w, human: record(w, walletFields) };
      }),
    );
  wallets
    .command("fund")
    .description("credit a wallet from system:funding (idempotent by --idempotency-key)")
    .argument("<wallet_id>", "the wallet")
    .requiredOption("--amount <amount>", 'decimal amount in the wallet\'s currency, e.g. "100.00"')
    .requiredOption("--reason <text>", "why (kept in the audit log)")
    .option("--idempotency-key <key>", "makes a retry safe: the same key never funds twice (default: a new random key)")
    .action(
      action(async (api, walletId: string, o: { amount: string; reason: string; idempotencyKey?: string }) => {
        const key = o.idempotencyKey ?? `cli_${crypto.randomUUID()}`;
        const f = await api.post<Row & { wallet: Row }>(`/admin/v1/wallets/${encodeURIComponent(walletId)}/fund`, { amount: o.amount, reason: o.reason, idempotency_key: key });
        return { json: f, human: record({ funding_id: f.funding_id, amount: f.amount, currency: f.currency, reason: f.reason, balance: f.wallet?.balance, replayed: f.replayed, idempotency_key: key }) };
      }),
    );
  for (const verb of ["freeze", "unfreeze"] as const) {
    wallets
      .command(verb)
      .description(verb === "freeze" ? "freeze a wallet: it can neither send nor receive" : "unfreeze a wallet")
      .argument("<wallet_id>", "the wallet")
      .action(
        action(async (api, walletId: string) => {
          const w = await api.post<Row>(`/admin/v1/wallets/${encodeURIComponent(walletId)}/${verb}`);
          return { json: w, human: record(w, walletFields) };
        }),
      );
  }
  wallets
    .command("entries")
    .description("a wallet's ledger entries, newest first")
    .argument("<wallet_id>", "the wallet")
    .option("--limit <n>", "how many (1-100)", positiveInt)
    .option("--starting-after <cursor>", "continue after this entry")
    .action(
      action(async (api, walletId: string, o: { limit?: number; startingAfter?: string }) =>
        listOut(
          await api.get<List>(`/admin/v1/wallets/${encodeURIComponent(walletId)}/entries`, { limit: o.limit, starting_after: o.startingAfter }),
          ["entry_id", "amount", "currency", "kind", "ref_id", "created_at"],
        ),
      ),
    );

  program
    .command("audit")
    .description("the admin audit log, newest first")
    .option("--limit <n>", "how many (1-100)", positiveInt)
    .option("--starting-after <cursor>", "continue after this record")
    .action(
      action(async (api, o: { limit?: number; startingAfter?: string }) =>
        listOut(await api.get<List>("/admin/v1/audit", { limit: o.limit, starting_after: o.startingAfter }), ["audit_id", "created_at", "actor", "action", "target", "request_id"]),
      ),
    );

  registerPayouts(program, io, (work) => {
    pending = work();
  });

  try {
    await program.parseAsync(argv);
    if (pending) await pending;
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version are exits with code 0.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof ExitWith) {
      if (e.message) io.err(e.message);
      return e.code;
    }
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof ApiError) {
      io.err(`error: ${e.code}: ${e.message}${e.requestId ? ` (request ${e.requestId})` : ""}`);
      return e.status === 0 || e.status >= 500 ? EXIT.unavailable : EXIT.refused;
    }
    io.err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.unavailable;
  }
}
