/**
 * @module
 * Cursor paging for admin listings: a page of records newest first, continued after the id of
 * the last record seen.
 */

export interface PageRequest {
  /** 1..100. */
  limit: number;
  /** The id of the last record of the previous page; absent for the first page. */
  startingAfter?: string;
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
}

/** Thrown by a store when `startingAfter` names no record of the listing. */
export class UnknownCursorError extends Error {
  constructor(readonly cursor: string) {
    super(`unknown cursor ${cursor}`);
    this.name = "UnknownCursorError";
  }
}
