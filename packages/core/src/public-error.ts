import { type ErrorCode, retryableByDefault } from "./errors.ts";

/**
 * An error as another trust domain sees it (the upstream platform through the intake API, anyone
 * answered a server failure over HTTP): its code, whether the failure is of a kind that passes,
 * and a fixed sentence per kind of failure. The message an operator reads (`lastError.message`, the
 * server's log) may name a funder's base URL, a host and port, SQL or a key file's path; this one
 * names none of them.
 */
export interface PublicError {
  code: string;
  /** Whether the failure is of a kind that passes (the default of the code's `retryable`). */
  retryable: boolean;
  message: string;
}

const operators = "capflow's operators have the details";

/** Sentences for single codes (the engine's and a few history codes), checked before families. */
const byCode: Record<string, string> = {
  TRANSPORT_NOT_SENT: "the funder's interface could not be reached; the request was not sent",
  TRANSPORT_UNKNOWN_OUTCOME:
    "the funder did not answer in time, so whether it received the request is not known; capflow finds out before sending it again",
  TRANSPORT_HTTP_STATUS: `the funder's interface answered with an error status; ${operators}`,
  PARTNER_REFUSED: "the funder refused the request as not processed",
  RECOVERY_RESENDS_EXHAUSTED:
    "the funder neither answered nor knew the request after every resend; an operator checks with the funder",
  CALENDAR_CLOSED: "the funder is outside its service hours; the call waits for the next opening",
  CALENDAR_CUTOFF_EXPIRED: "the funder's business day ended before the call could be made",
  KEY_INVALID: `a key for the exchange with the funder cannot be used; ${operators}`,
  SECRET_NOT_FOUND: `a key for the exchange with the funder cannot be loaded; ${operators}`,
  INSTANCE_INPUT_INVALID:
    "the input does not match what the behavior expects; fix it and start again",
  INSTANCE_INPUT_MISMATCH: "this business key was started before with other input",
  BUSINESS_KEY_TAKEN: "this business key is used by another upstream client; use keys of your own",
  QUOTA_EXHAUSTED: "a quota of the channel has no room for this start now",
  ROUTING_NO_CHANNEL: "no channel of the product can take this business now",
  CALLBACK_LATE_CONFLICT:
    "the funder's late notification contradicts how the instance settled; an operator reconciles it",
  QUERY_TIMEOUT:
    "the query did not settle in the time this request waits; it goes on and its answer is cached when it comes: ask again shortly",
  CONFIG_INVALID: `capflow's configuration does not let it answer this request; ${operators}`,
  INTERNAL: `capflow met a failure it did not expect; ${operators}`,
};

/** Sentences for families of codes, by prefix, the first that matches. */
const byPrefix: [string, string][] = [
  ["TRANSPORT_", `the call to the funder failed in transit; ${operators}`],
  [
    "CRYPTO_",
    `a message to or from the funder could not be signed, encrypted or verified; ${operators}`,
  ],
  ["KEY_", `a key for the exchange with the funder cannot be used; ${operators}`],
  [
    "RAW_MESSAGE_",
    `a message could not be kept as the funder's configuration requires; ${operators}`,
  ],
  ["TEMPLATE_", `the request to the funder could not be built; ${operators}`],
  ["PROCESSOR_", `the request to the funder could not be built or its answer read; ${operators}`],
  ["CODEC_", `a message to or from the funder could not be encoded or decoded; ${operators}`],
  ["CHARSET_", `a message to or from the funder could not be encoded or decoded; ${operators}`],
  ["EXTRACT_", `the funder's answer could not be read; ${operators}`],
  [
    "ROUTE_",
    "the funder's answer matched none of the routes the behavior defines; an operator decides",
  ],
  ["CIRCUIT_", "calls to the funder are paused after its recent failures"],
  ["LIMITER_", "the call waits for room within the funder's limits"],
  ["LOCK_", "capflow could not take this instance's turn this time"],
  ["STORE_", `capflow's database failed; ${operators}`],
  ["CALLBACK_", `a notification from the funder could not be accepted; ${operators}`],
  ["DEFINITION_", `the behavior's definition does not hold for this instance; ${operators}`],
  ["INSTANCE_", `the instance cannot go on as asked; ${operators}`],
];

/**
 * The public form of a stored error: the same code and a sentence chosen by code alone, so no text
 * written for operators (a URL, a host and port, a file path) reaches the upstream.
 */
export function publicError(error: { code: string; message: string }): PublicError {
  const code = error.code;
  const retryable = Object.hasOwn(retryableByDefault, code)
    ? retryableByDefault[code as ErrorCode]
    : false;
  const message =
    (Object.hasOwn(byCode, code) ? byCode[code] : undefined) ??
    byPrefix.find(([prefix]) => code.startsWith(prefix))?.[1] ??
    `capflow met a failure; ${operators}`;
  return { code, retryable, message };
}
