import { CapflowError, type ErrorCode, isCapflowError } from "@capflow/core";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { publicMessage } from "./public-message.ts";

/**
 * The JSON body of every refusal and failure the server answers itself. A failure (5xx) also says
 * whether asking again may succeed and the request's id, which its log line carries with the whole
 * error.
 */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable?: boolean; requestId?: string };
}

const statusByCode: Partial<Record<ErrorCode, number>> = {
  REQUEST_INVALID: 400,
  CONFIG_INVALID: 400,
  DEFINITION_INVALID: 400,
  INSTANCE_INPUT_INVALID: 400,
  AUTH_REQUIRED: 401,
  AUTH_FORBIDDEN: 403,
  REQUEST_NOT_FOUND: 404,
  INSTANCE_NOT_FOUND: 404,
  CALLBACK_UNKNOWN: 404,
  DEFINITION_NOT_FOUND: 404,
  STORE_CONFLICT: 409,
  STORE_UNIQUE_VIOLATION: 409,
  INSTANCE_SETTLED: 409,
  INSTANCE_CALL_IN_FLIGHT: 409,
  INSTANCE_FAILED_OVER: 409,
  INSTANCE_INPUT_MISMATCH: 409,
  BUSINESS_KEY_TAKEN: 409,
  REQUEST_TOO_LARGE: 413,
  REQUEST_METHOD_NOT_ALLOWED: 405,
  IDEMPOTENCY_KEY_IN_USE: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  MIGRATION_BUSY: 429,
  QUOTA_EXHAUSTED: 422,
  ROUTING_NO_CHANNEL: 422,
  QUERY_TIMEOUT: 504,
};

/**
 * The HTTP status for an error code: 4xx for refusals the client can fix, 503 for retryable
 * failures (the store or Redis away: ask again), 500 for the rest.
 */
export function httpStatusFor(error: CapflowError): number {
  return statusByCode[error.code] ?? (error.retryable ? 503 : 500);
}

/**
 * Turns what a route or Fastify threw into a `CapflowError`: Fastify's own refusals (body too large,
 * malformed JSON, schema validation, bad content type) become `REQUEST_*` codes.
 */
export function toRequestError(error: unknown): CapflowError {
  if (isCapflowError(error)) return error;
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE" || fastifyError.statusCode === 413) {
    return new CapflowError(
      "REQUEST_TOO_LARGE",
      "the request body is larger than this server accepts; send less, or raise bodyLimitBytes",
    );
  }
  // Refused by the router before any route ran (no handler, no authentication yet).
  if (fastifyError.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new CapflowError(
      "REQUEST_INVALID",
      "a part of the path is longer than any identifier this server knows; check the URL",
    );
  }
  if (fastifyError.code === "FST_ERR_BAD_URL") {
    return new CapflowError("REQUEST_INVALID", "the URL is not valid (bad percent-encoding)");
  }
  if (fastifyError.validation) {
    return new CapflowError("REQUEST_INVALID", `invalid request: ${fastifyError.message}`);
  }
  const status = fastifyError.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new CapflowError(
      status === 404 ? "REQUEST_NOT_FOUND" : "REQUEST_INVALID",
      `invalid request: ${fastifyError.message ?? "refused"}`,
    );
  }
  return new CapflowError("INTERNAL", "the server failed to answer; see its log", {
    cause: error,
  });
}

/**
 * Sends the {@link ErrorBody} of `error` with the status of its code. A refusal (4xx) is
 * `{ code, message }`, its message saying what to fix. A failure (5xx) is `{ code, retryable,
 * message, requestId }` with a fixed sentence for its code (`publicMessage`), whoever asks: the
 * whole error is logged here, at `error` with the request's id, for operators to find by it.
 */
export function sendError(reply: FastifyReply, error: CapflowError): FastifyReply {
  const status = httpStatusFor(error);
  const message = publicMessage(error, status);
  let body: ErrorBody;
  if (status >= 500) {
    const requestId = String(reply.request.id);
    // The request's logger adds its id as `reqId`.
    reply.log.error(
      { err: error.cause ?? error, code: error.code },
      `answered ${status} ${error.code}: ${error.message}`,
    );
    body = { error: { code: error.code, retryable: error.retryable, message, requestId } };
  } else {
    body = { error: { code: error.code, message } };
  }
  if (error.code === "AUTH_REQUIRED") reply.header("www-authenticate", 'Bearer realm="capflow"');
  return reply.code(status).type("application/json; charset=utf-8").send(body);
}

/** Fastify error handler: every failure answered as an {@link ErrorBody}, refusals logged at info. */
export function replyWithError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const failure = toRequestError(error);
  if (httpStatusFor(failure) < 500) request.log.info({ code: failure.code }, "request refused");
  return sendError(reply, failure);
}
