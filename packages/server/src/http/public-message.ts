import type { CapflowError, ErrorCode } from "@capflow/core";
import { publicError } from "@capflow/core/internal";

/**
 * Codes whose message describes the server's own configuration (a key reference, the path of the
 * file it could not read): a client or funder that met one is told what happened, not where.
 */
const serverKeyCodes: ReadonlySet<ErrorCode> = new Set([
  "SECRET_NOT_FOUND",
  "KEY_INVALID",
  "CRYPTO_CONFIG_INVALID",
]);

const askAgain = "ask again shortly; the server's operators find the cause in its log";

/** What the lock codes say instead of their own message, which may name Redis's host and port. */
const lockMessages: Partial<Record<ErrorCode, string>> = {
  LOCK_NOT_ACQUIRED: `another task holds what this request needs; ${askAgain}`,
  LOCK_LOST: `the server lost a lock it held while answering; ${askAgain}`,
  LOCK_UNAVAILABLE: `the server's lock service did not answer this time; ${askAgain}`,
  LIMITER_UNAVAILABLE: `the server's flow-control service did not answer this time; ${askAgain}`,
};

/**
 * The message an HTTP answer carries for `error` answered with `status`. A refusal (4xx) keeps its
 * message: it says what in the request to fix. A failure (5xx) is said in a fixed sentence chosen
 * by its code: its own message may name the database (a host and port, a PGlite folder, SQL), Redis,
 * a funder's address, a key's file or id, or the text of an unexpected exception, which are for the
 * log, not for whoever asked. The infrastructure's codes say what to do (ask again shortly); every
 * other code gets its public form's sentence (`publicError`, the one the upstream reads).
 */
export function publicMessage(error: CapflowError, status: number): string {
  if (serverKeyCodes.has(error.code)) {
    return "the server cannot load a key it needs to answer this request. The problem is the server's configuration, not the request: its operators find which key in its log";
  }
  if (status < 500) return error.message;
  if (error.code.startsWith("STORE_")) {
    return error.retryable
      ? "the database did not answer this time; ask again shortly (the server's log has the cause)"
      : "the database refused or failed this request; the server's log has the cause";
  }
  const lock = lockMessages[error.code];
  if (lock !== undefined) return lock;
  if (error.code.startsWith("LOCK_")) return `the server's lock service failed; ${askAgain}`;
  if (error.code.startsWith("TRANSPORT_")) {
    return `the funder's interface could not be reached or did not answer this time; ${askAgain}`;
  }
  return publicError(error).message;
}
