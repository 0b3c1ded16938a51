/**
 * @module
 * Small named values shared by every instance (e.g. whether the demo data was seeded).
 */

export interface MetaStore {
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
  /** Sets the key only if it is absent; true for the one caller that set it (across instances). */
  claimMeta(key: string, value: string): Promise<boolean>;
}
