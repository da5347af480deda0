import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  CapflowError,
  type OperatorRole,
  type OperatorTokenRecord,
  type OperatorTokenStore,
  operatorRoles,
} from "@capflow/core";
import { checkReasonText } from "../ops/reason-text.ts";
import { reasonSchema } from "../ops/request-schemas.ts";

/** Tokens start with this, so a leaked one is recognisable (secret scanners, logs). */
export const operatorTokenPrefix = "cfo_";

const namePattern = /^[\p{L}\p{N}][\p{L}\p{N}._@-]{0,63}$/u;

/** The SHA-256 digest a token is stored and looked up by (hex). */
export function hashOperatorToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export interface IssueTokenRequest {
  name: string;
  role: OperatorRole;
  /** The operator issuing it (the machine's user name from the command line). */
  createdBy?: string | null;
  /** Why it is made: kept with the token and shown in its listing. */
  reason: string;
  now?: number;
}

export interface RevokeOperatorTokenRequest {
  /** A token id, or the name of an unrevoked token. */
  idOrName: string;
  /** The operator revoking it (the machine's user name from the command line). */
  by: string | null;
  /** Why: kept with the revocation and shown in the token's listing. */
  reason: string;
  now?: number;
}

/**
 * Makes an operator token: 32 random bytes (`cfo_` + base64url), of which only the SHA-256 digest
 * is stored. The token is returned once; nobody can read it again, only revoke it.
 */
export async function issueOperatorToken(
  store: OperatorTokenStore,
  request: IssueTokenRequest,
): Promise<{ token: string; record: OperatorTokenRecord }> {
  checkTokenRequest(request);
  checkTokenReason(request.reason, "make a token");
  const token = `${operatorTokenPrefix}${randomBytes(32).toString("base64url")}`;
  try {
    const record = await store.createToken({
      id: `tok_${randomUUID().replaceAll("-", "").slice(0, 16)}`,
      name: request.name,
      role: request.role,
      tokenHash: hashOperatorToken(token),
      createdAt: request.now ?? Date.now(),
      createdBy: request.createdBy ?? null,
      createdReason: request.reason,
    });
    return { token, record };
  } catch (error) {
    if (error instanceof CapflowError && error.code === "STORE_UNIQUE_VIOLATION") {
      throw new CapflowError(
        "STORE_UNIQUE_VIOLATION",
        `an unrevoked token named "${request.name}" exists; revoke it first or choose another name`,
        { context: { token: request.name } },
      );
    }
    throw error;
  }
}

/**
 * Revokes a token, keeping who did it, when and why. Returns it (a token revoked already as it
 * was, with its first revocation), or undefined when there is none; a refused reason revokes
 * nothing.
 */
export async function revokeOperatorToken(
  store: OperatorTokenStore,
  request: RevokeOperatorTokenRequest,
): Promise<OperatorTokenRecord | undefined> {
  checkTokenReason(request.reason, "revoke a token");
  return store.revokeToken({
    idOrName: request.idOrName,
    now: request.now ?? Date.now(),
    by: request.by,
    reason: request.reason,
  });
}

/**
 * Refuses a reason for making or revoking a token that is missing, blank, too long, or holds
 * control characters or what looks like a token: reasons are stored and listed in clear, tokens
 * never are.
 */
export function checkTokenReason(
  reason: unknown,
  action: string,
  /** Where the reason goes, for the message: `"reason" in the body` on the operator API. */
  where?: string,
): void {
  const { minLength, maxLength } = reasonSchema;
  if (typeof reason !== "string" || reason.trim().length < minLength) {
    throw new CapflowError(
      "REQUEST_INVALID",
      `give a reason to ${action}: ${where === undefined ? "" : `${where}, `}${minLength} to ${maxLength} characters saying why; it is kept with the token, next to your name`,
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

function checkTokenRequest(request: IssueTokenRequest): void {
  if (!namePattern.test(request.name)) {
    throw new CapflowError(
      "REQUEST_INVALID",
      "a token name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
    );
  }
  if (!operatorRoles.includes(request.role)) {
    throw new CapflowError(
      "REQUEST_INVALID",
      `a token's role is one of ${operatorRoles.join(", ")}, not "${String(request.role)}"`,
    );
  }
}
