import { CapflowError, type ErrorCode } from "@capflow/core";

/** What `capflow serve` answers when it refuses or fails (`ErrorBody` of `@capflow/server`). */
export interface ServerErrorBody {
  error?: { code: ErrorCode; message: string; requestId?: string };
}

/**
 * The error a command reports for a `capflow serve` answer that is not ok: the server's code and
 * message and, for a failure, the request's id, under which the server's log has the whole error
 * (the answer itself carries only a fixed sentence).
 */
export function serverAnswerError(status: number, body: ServerErrorBody): CapflowError {
  const error = body.error;
  if (error === undefined) {
    return new CapflowError("INTERNAL", `capflow serve answered ${status}`);
  }
  return new CapflowError(
    error.code,
    error.requestId === undefined
      ? error.message
      : `${error.message} (capflow serve's log has it under request ${error.requestId})`,
  );
}
