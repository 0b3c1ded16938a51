/**
 * @module
 * Errors every store port may throw.
 */

/**
 * Thrown by a store that cannot be reached (as opposed to a bug): callers answer 503
 * service_unavailable instead of a 500.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}
