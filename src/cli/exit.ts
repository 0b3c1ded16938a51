/**
 * @module
 * The CLI's exit codes and the errors that end a command with one of them.
 */

/**
 * 0 done; 1 refused (the gateway answered 4xx, or the CLI's own checks of an input file failed);
 * 2 the command line is wrong (unknown command, bad option, missing credentials, unreadable file);
 * 3 the gateway could not be reached or failed (5xx); 4 a waited-for batch ended with items not
 * paid (failed, retained_in_wallet or cancelled).
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unavailable: 3, unpaid: 4 } as const;

/** The command line is wrong: exit 2 with the message. */
export class UsageError extends Error {}

/** Ends the command with `code`; `message` (already formatted, may span lines) goes to stderr. */
export class ExitWith extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
