/**
 * A stream of the same batch through several senders at once with one change in its middle, for
 * the tests that check what the next batch after a change sees (test/server/revocation-stream.test.ts,
 * test/server/wallet-cache-stream.test.ts).
 */

/** When an answer's batch was sent: before the change began, while it ran, or after it returned. */
export type Phase = "before" | "during" | "after";

/**
 * Sends `body` through every sender in a loop (yielding to timers between batches: in process, a
 * batch can complete without leaving the microtask queue), applies `change` once `warm` batches
 * sent before it have answered, and stops once `after` batches per sender sent after it returned
 * have answered (or after 20 s of either wait). Answers each batch's result with the phase it was
 * sent in; a sender that throws stops the stream and its error is thrown.
 */
export async function streamAroundChange<R>(
  senders: ((body: string) => Promise<R>)[],
  body: string,
  change: () => Promise<unknown>,
  { warm = 10, after = 10 }: { warm?: number; after?: number } = {},
): Promise<{ phase: Phase; answer: R }[]> {
  let phase: Phase = "before";
  let stop = false;
  let failed: unknown;
  const seen: { phase: Phase; answer: R }[] = [];
  const loops = senders.map(async (send) => {
    try {
      while (!stop) {
        const sentIn = phase;
        const answer = await send(body);
        seen.push({ phase: sentIn, answer });
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      failed ??= e;
      stop = true;
    }
  });
  const until = async (ok: () => boolean) => {
    const deadline = Date.now() + 20_000;
    while (!ok() && !stop && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  const count = (p: Phase) => seen.filter((s) => s.phase === p).length;
  await until(() => count("before") >= warm);
  phase = "during";
  await change();
  phase = "after";
  await until(() => count("after") >= after * senders.length);
  stop = true;
  await Promise.all(loops);
  if (failed) throw failed;
  return seen;
}
