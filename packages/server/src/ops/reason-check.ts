import { CapflowError } from "@capflow/core";
import type { FastifyRequest } from "fastify";
import { checkReasonText } from "./reason-text.ts";
import { reasonSchema } from "./request-schemas.ts";

/**
 * A route's `preValidation` hook refusing a body without a usable reason (see `checkReason`):
 * every operator API route that takes a reason has one.
 */
export function reasonRequired(action: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => checkReason(request.body, action);
}

/**
 * Refuses a body without a usable `reason` before the schema does, with a message saying what to
 * send: the reason is what the history keeps next to the operator's name, so it is required,
 * blank text is no reason, and control characters or a token in it are refused (`checkReasonText`).
 */
export function checkReason(body: unknown, action: string): void {
  const reason =
    typeof body === "object" && body !== null ? (body as { reason?: unknown }).reason : undefined;
  const { minLength, maxLength } = reasonSchema;
  if (typeof reason !== "string" || reason.trim().length < minLength) {
    throw new CapflowError(
      "REQUEST_INVALID",
      `give a reason to ${action}: "reason" in the body, ${minLength} to ${maxLength} characters saying why; it is recorded in the instance's history with your name`,
    );
  }
  if (reason.length > maxLength) {
    throw new CapflowError(
      "REQUEST_INVALID",
      `the reason is ${reason.length} characters; shorten it to at most ${maxLength}`,
    );
  }
  checkReasonText(reason);
}
