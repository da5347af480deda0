import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  CapflowError,
  type OperatorRole,
  type OperatorTokenRecord,
  type OperatorTokenStore,
  operatorRoles,
} from "@capflow/core";

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
  /** The operator issuing it; null from the command line. */
  createdBy?: string | null;
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
  const token = `${operatorTokenPrefix}${randomBytes(32).toString("base64url")}`;
  try {
    const record = await store.createToken({
      id: `tok_${randomUUID().replaceAll("-", "").slice(0, 16)}`,
      name: request.name,
      role: request.role,
      tokenHash: hashOperatorToken(token),
      createdAt: request.now ?? Date.now(),
      createdBy: request.createdBy ?? null,
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
