/**
 * Type-only shims for checking the shared (Web-standard) code against @cloudflare/workers-types
 * (tsconfig.worker.json). Nothing here exists at run time.
 */

// The HTML timers spec, Node and workerd all accept `clearTimeout(undefined)` (a no-op), and the
// shared code relies on it (`let timer: ReturnType<typeof setTimeout> | undefined`); the Workers
// types only declare `number | null`.
declare function clearTimeout(timeoutId: number | null | undefined): void;
