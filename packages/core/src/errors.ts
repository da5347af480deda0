/**
 * One error class for the whole engine. Every failure a user can meet carries a stable string
 * `code` (match on it, never on the message), a message that says what to do next, the context it
 * happened in, and whether retrying the same operation can succeed.
 *
 * Messages and context must never contain secrets or unmasked personal data: errors end up in
 * logs and in step logs.
 */

/**
 * Every code the engine and its adapters raise, with whether retrying the same operation later may
 * succeed by default. Adapters translate driver errors into these codes. A throw site that knows
 * better (a Redis reply that is transient, a conflict the caller may simply retry) overrides the
 * default with `retryable`; everywhere else this one table decides.
 */
export const retryableByDefault = {
  // definitions
  DEFINITION_INVALID: false,
  DEFINITION_NOT_FOUND: false,
  // message pipeline
  PROCESSOR_NOT_FOUND: false,
  PROCESSOR_ARITY: false,
  PROCESSOR_FAILED: false,
  PROCESSOR_DUPLICATE: false,
  TEMPLATE_COMPILE_FAILED: false,
  TEMPLATE_RENDER_FAILED: false,
  CODEC_ENCODE_FAILED: false,
  CODEC_DECODE_FAILED: false,
  /** Bytes not valid in the charset, or a charset announced that the definition does not declare. */
  CHARSET_DECODE_FAILED: false,
  /** Text holding characters the declared charset cannot write (an emoji for GBK). */
  CHARSET_ENCODE_FAILED: false,
  EXTRACT_FAILED: false,
  ROUTE_EXPRESSION_INVALID: false,
  ROUTE_EVALUATION_FAILED: false,
  ROUTE_NO_MATCH: false,
  // crypto and keys
  CRYPTO_HANDLER_NOT_FOUND: false,
  CRYPTO_CONFIG_INVALID: false,
  CRYPTO_SIGN_FAILED: false,
  CRYPTO_VERIFY_FAILED: false,
  CRYPTO_ENCRYPT_FAILED: false,
  CRYPTO_DECRYPT_FAILED: false,
  KEY_INVALID: false,
  SECRET_NOT_FOUND: false,
  /** Raw messages are to be kept (`keepRawMessages`, `keepRawBody`) but no key encrypts them. */
  RAW_MESSAGE_KEY_MISSING: false,
  /** A stored raw message names a key that is not configured (retired too early). */
  RAW_MESSAGE_KEY_UNKNOWN: false,
  /** A stored raw message does not open: altered, or its key id now names other key material. */
  RAW_MESSAGE_DECRYPT_FAILED: false,
  // transport and flow control: "not sent" may be retried, an unknown outcome never blindly
  TRANSPORT_NOT_SENT: true,
  TRANSPORT_UNKNOWN_OUTCOME: false,
  TRANSPORT_HTTP_STATUS: false,
  /** The partner refused the request in a way it documents as "not processed": safe to resend. */
  PARTNER_REFUSED: true,
  /**
   * A recovery query resent one attempt as often as its interface allows (`maxResends`) and the
   * partner still neither answered nor knew the order: an operator checks with the partner.
   */
  RECOVERY_RESENDS_EXHAUSTED: false,
  LIMITER_REJECTED: true,
  LIMITER_UNAVAILABLE: true,
  CIRCUIT_OPEN: true,
  LOCK_NOT_ACQUIRED: true,
  LOCK_LOST: true,
  LOCK_UNAVAILABLE: true,
  // engine and store
  INSTANCE_NOT_FOUND: false,
  INSTANCE_INPUT_MISMATCH: false,
  /** Another upstream client's instance or queued start has this business key already. */
  BUSINESS_KEY_TAKEN: false,
  /** The input cannot be started: it fails the behavior's or the product's expectations. */
  INSTANCE_INPUT_INVALID: false,
  INSTANCE_SETTLED: false,
  /** A move would send again a non-idempotent call that may have reached the partner. */
  INSTANCE_CALL_IN_FLIGHT: false,
  /** The instance failed over: its business goes on at its successor, which is acted on instead. */
  INSTANCE_FAILED_OVER: false,
  /** Someone else moved the instance: the caller lost ownership and must not go on. */
  STORE_CONFLICT: false,
  STORE_UNIQUE_VIOLATION: false,
  STORE_SERIALIZATION_FAILURE: true,
  STORE_DEADLOCK: true,
  STORE_CONNECTION_LOST: true,
  STORE_TIMEOUT: true,
  STORE_UNAVAILABLE: true,
  STORE_FAILED: false,
  /** A quota has no room for this start (it may have later: the next day, after releases). */
  QUOTA_EXHAUSTED: false,
  /** No channel of a product can take this business now; the error says why each could not. */
  ROUTING_NO_CHANNEL: false,
  CALLBACK_UNKNOWN: false,
  CALLBACK_REJECTED: false,
  /** A verified notification that fails the callback's `match`: it belongs to another callback. */
  CALLBACK_MISMATCH: false,
  /** A notification for the upstream was not acknowledged (an answer other than 2xx, no answer). */
  NOTIFICATION_DELIVERY_FAILED: true,
  /** No URL is configured for a notification's target. */
  NOTIFICATION_TARGET_MISSING: true,
  /**
   * A notification claimed past its retry schedule: its attempts were never recorded (a
   * dispatcher died delivering it each time), so it is failed without another post.
   */
  NOTIFICATION_DELIVERY_ABANDONED: false,
  // HTTP access layer (@capflow/server)
  /** A request the server cannot read: malformed body, missing or invalid field, bad parameter. */
  REQUEST_INVALID: false,
  /** A request body over the server's limit. */
  REQUEST_TOO_LARGE: false,
  /** A method the address does not answer (a funder callback sent with anything but POST). */
  REQUEST_METHOD_NOT_ALLOWED: false,
  /** No route, or nothing at that address (an unknown instance, callback or token). */
  REQUEST_NOT_FOUND: false,
  /** No credentials, or credentials that do not hold (unknown, forged or revoked token). */
  AUTH_REQUIRED: false,
  /** Authenticated, but the role does not allow this action. */
  AUTH_FORBIDDEN: false,
  /** An Idempotency-Key used before with another request body: use a new key for a new request. */
  IDEMPOTENCY_KEY_REUSED: false,
  /** A request with the same Idempotency-Key is still being answered: ask again shortly. */
  IDEMPOTENCY_KEY_IN_USE: true,
  /** Another migration (a dry run or a move) is running on this server: ask again when it ends. */
  MIGRATION_BUSY: true,
  CONFIG_INVALID: false,
  // business protection
  /** The channel's calendar holds the call back until its next opening (a window, a working day). */
  CALENDAR_CLOSED: true,
  /** A call still held back by the calendar at the channel's cut-off, which expires waiting calls. */
  CALENDAR_CUTOFF_EXPIRED: false,
  /** A synchronous query did not settle in the time its caller waits; it goes on, its answer is cached. */
  QUERY_TIMEOUT: true,
  // reconciliation
  /** A statement definition does not hold (schema, time zone, columns). */
  STATEMENT_INVALID: false,
  /** The statement could not be fetched (server down, file not there yet): try again later. */
  STATEMENT_UNAVAILABLE: true,
  /** The statement's bytes do not read as its definition says (compression, encoding, layout). */
  STATEMENT_UNREADABLE: false,
  /** Another node is reconciling the same statement and date right now. */
  RECONCILE_BUSY: true,
  /** A run left running too long was taken over by another process: the first one must stop writing. */
  RECONCILE_TAKEN_OVER: false,
  /** No such reconciliation run or difference. */
  RECONCILE_NOT_FOUND: false,
  /** A failure nobody classified: a bug in capflow or in a host's code, not a configuration problem. */
  INTERNAL: false,
} as const satisfies Record<string, boolean>;

/** Every code, in the order of {@link retryableByDefault}. */
export const errorCodes = Object.keys(retryableByDefault) as ErrorCode[];

export type ErrorCode = keyof typeof retryableByDefault;

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
  /** Whether retrying the same operation later may succeed. Default: the code's entry in {@link retryableByDefault}. */
  retryable?: boolean;
}

/**
 * Marks capflow errors across copies of this package: peer dependencies can leave two copies of
 * core installed, and `instanceof` against one copy's class fails for the other's errors.
 */
const capflowErrorBrand = Symbol.for("@capflow/core:CapflowError");

export class CapflowError extends Error {
  override readonly name: string = "CapflowError";
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: CapflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? retryableByDefault[code] ?? false;
    Object.defineProperty(this, capflowErrorBrand, { value: true });
  }

  /** `instanceof` recognises errors of any copy of this package (by brand, not by prototype). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" &&
      value !== null &&
      (value as Record<symbol, unknown>)[capflowErrorBrand] === true
    );
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
  return (
    typeof error === "object" &&
    error !== null &&
    (error as Record<symbol, unknown>)[capflowErrorBrand] === true &&
    (code === undefined || (error as CapflowError).code === code)
  );
}

/**
 * The error as a `CapflowError`: capflow's own errors as they are, anything else (a bug in capflow
 * or in a host's processor or handler that threw something unclassified) as `INTERNAL`, so it is
 * never mistaken for a configuration problem.
 */
export function toCapflowError(error: unknown, context?: ErrorContext): CapflowError {
  if (isCapflowError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new CapflowError(
    "INTERNAL",
    `unexpected failure: ${message}; this is a bug in capflow or in a processor, handler or adapter it called — report it with the stack of the cause`,
    { cause: error, ...(context ? { context } : {}) },
  );
}
