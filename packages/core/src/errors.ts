/**
 * One error class for the whole engine. Every failure a user can meet carries a stable string
 * `code` (match on it, never on the message), a message that says what to do next, the context it
 * happened in, and whether retrying the same operation can succeed.
 *
 * Messages and context must never contain secrets or unmasked personal data: errors end up in
 * logs and in step logs.
 */

/** Every code the engine and its adapters raise. Adapters translate driver errors into these. */
export const errorCodes = [
  // definitions
  "DEFINITION_INVALID",
  "DEFINITION_NOT_FOUND",
  // message pipeline
  "PROCESSOR_NOT_FOUND",
  "PROCESSOR_ARITY",
  "PROCESSOR_FAILED",
  "PROCESSOR_DUPLICATE",
  "TEMPLATE_COMPILE_FAILED",
  "TEMPLATE_RENDER_FAILED",
  "CODEC_ENCODE_FAILED",
  "CODEC_DECODE_FAILED",
  "EXTRACT_FAILED",
  "ROUTE_EXPRESSION_INVALID",
  "ROUTE_EVALUATION_FAILED",
  "ROUTE_NO_MATCH",
  // crypto and keys
  "CRYPTO_HANDLER_NOT_FOUND",
  "CRYPTO_CONFIG_INVALID",
  "CRYPTO_SIGN_FAILED",
  "CRYPTO_VERIFY_FAILED",
  "CRYPTO_ENCRYPT_FAILED",
  "CRYPTO_DECRYPT_FAILED",
  "KEY_INVALID",
  "SECRET_NOT_FOUND",
  // transport and flow control
  "TRANSPORT_NOT_SENT",
  "TRANSPORT_UNKNOWN_OUTCOME",
  "TRANSPORT_HTTP_STATUS",
  "LIMITER_REJECTED",
  "LIMITER_UNAVAILABLE",
  "CIRCUIT_OPEN",
  "LOCK_NOT_ACQUIRED",
  "LOCK_LOST",
  "LOCK_UNAVAILABLE",
  // engine and store
  "INSTANCE_NOT_FOUND",
  "INSTANCE_INPUT_MISMATCH",
  "INSTANCE_SETTLED",
  "STORE_CONFLICT",
  "STORE_UNIQUE_VIOLATION",
  "STORE_SERIALIZATION_FAILURE",
  "STORE_DEADLOCK",
  "STORE_CONNECTION_LOST",
  "STORE_TIMEOUT",
  "STORE_UNAVAILABLE",
  "STORE_FAILED",
  "CALLBACK_UNKNOWN",
  "CALLBACK_REJECTED",
  "CONFIG_INVALID",
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** Where an error happened. Every field is optional; fill in what is known. */
export interface ErrorContext {
  channel?: string;
  behavior?: string;
  step?: string;
  instance?: string;
  /** A file the problem is in (definitions, templates, keys). */
  file?: string;
  /** JSON pointer (RFC 6901) into the definition, e.g. `/steps/apply/routes/0/to`. */
  pointer?: string;
  template?: string;
  processor?: string;
  /** Anything else worth knowing; must be safe to log. */
  [key: string]: unknown;
}

export interface CapflowErrorOptions {
  context?: ErrorContext;
  cause?: unknown;
  /** Whether retrying the same operation later may succeed. Defaults to false. */
  retryable?: boolean;
}

export class CapflowError extends Error {
  override readonly name: string = "CapflowError";
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: CapflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? false;
  }

  /** A copy with more context; the original context wins for keys both define. */
  withContext(context: ErrorContext): CapflowError {
    const copy = new CapflowError(this.code, this.message, {
      context: { ...context, ...this.context },
      cause: this.cause,
      retryable: this.retryable,
    });
    if (this.stack !== undefined) copy.stack = this.stack;
    return copy;
  }

  /** A plain, log-safe object (no cause chain: causes may come from drivers and carry data). */
  toJSON(): {
    name: string;
    code: ErrorCode;
    message: string;
    retryable: boolean;
    context: ErrorContext;
  } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      context: this.context,
    };
  }
}

export function isCapflowError(error: unknown, code?: ErrorCode): error is CapflowError {
  return error instanceof CapflowError && (code === undefined || error.code === code);
}
