import type { CapflowError, ErrorCode } from "@capflow/core";
import { publicError } from "@capflow/core/internal";
import type { FastifyReply, FastifyRequest } from "fastify";
import { httpStatusFor } from "../http/error-reply.ts";

/**
 * Refusals whose message describes the platform's set-up rather than the request: which funders'
 * channels a product has and why each could not take the business (their account, interface and
 * definition names), or the server's own files. Several upstream clients share one capflow, each
 * a different party, so none of them reads another funder's set-up.
 */
const setUpCodes: ReadonlySet<ErrorCode> = new Set(["ROUTING_NO_CHANNEL", "CONFIG_INVALID"]);

/** Whether `error` is answered to the upstream in its public form (`sendPublicRefusal`). */
export function isSetUpRefusal(error: CapflowError): boolean {
  return setUpCodes.has(error.code);
}

/**
 * Answers a set-up refusal with its public form `{ code, retryable, message, requestId }`, and for
 * `ROUTING_NO_CHANNEL` the distinct states of its channels (`reasons`: `quota-exhausted`,
 * `unhealthy`, …), which name no channel. The whole message is logged at `warn` with the
 * request's id (`reqId`), where operators find each channel's reason.
 */
export function sendPublicRefusal(
  request: FastifyRequest,
  reply: FastifyReply,
  error: CapflowError,
): FastifyReply {
  const status = httpStatusFor(error);
  request.log.warn({ code: error.code }, `refused ${status} ${error.code}: ${error.message}`);
  const candidates = error.context.candidates as { state: string }[] | undefined;
  const reasons =
    error.code === "ROUTING_NO_CHANNEL" && Array.isArray(candidates)
      ? [...new Set(candidates.map((c) => c.state))]
      : undefined;
  const body = {
    error: {
      ...publicError(error),
      // Whether a later start may find room depends on the channels' states, not the code alone.
      retryable: error.retryable,
      requestId: String(request.id),
      ...(reasons === undefined ? {} : { reasons }),
    },
  };
  return reply.code(status).type("application/json; charset=utf-8").send(body);
}
