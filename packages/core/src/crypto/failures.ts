import { CapflowError, type ErrorContext } from "../errors.ts";

/**
 * Error constructors shared by the crypto parts. Messages name the channel and the part that failed
 * and say what to check next; they never carry key material, signatures' inputs or plaintext, and
 * no `cause` is attached to verify/decrypt failures because OpenSSL and codec errors may quote data.
 */

export function verifyFailed(what: string, context: ErrorContext, hint?: string): CapflowError {
  return new CapflowError(
    "CRYPTO_VERIFY_FAILED",
    `${prefix(context)}verification failed: ${what}. ${hint ?? "Check the partner's verification keys and the signature configuration; a forged or altered message also ends here."}`,
    { context: { ...context, failed: what } },
  );
}

export function decryptFailed(what: string, context: ErrorContext): CapflowError {
  return new CapflowError(
    "CRYPTO_DECRYPT_FAILED",
    `${prefix(context)}decryption failed: ${what}. Check the decryption key and the encryption configuration; a tampered or truncated message also ends here.`,
    { context: { ...context, failed: what } },
  );
}

export function configInvalid(message: string, context: ErrorContext = {}): CapflowError {
  return new CapflowError("CRYPTO_CONFIG_INVALID", `${prefix(context)}${message}`, { context });
}

export function keyInvalid(
  message: string,
  context: ErrorContext = {},
  cause?: unknown,
): CapflowError {
  return new CapflowError("KEY_INVALID", `${prefix(context)}${message}`, {
    context,
    // Parser errors (OpenSSL, node-forge) describe structure, not key bytes; kept for diagnosis.
    ...(cause === undefined ? {} : { cause: scrubCause(cause) }),
  });
}

function prefix(context: ErrorContext): string {
  return context.channel === undefined ? "" : `channel ${context.channel}: `;
}

/** Keeps only the message and code of a parser error, so no buffer or key object rides along. */
function scrubCause(cause: unknown): Error {
  if (cause instanceof Error) {
    const copy = new Error(cause.message);
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") Object.assign(copy, { code });
    return copy;
  }
  return new Error("key parser failed");
}
