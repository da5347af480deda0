import { CapflowError, type OperatorTokenStore } from "@capflow/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type Operator, type OperatorAuthenticator, roleAllows } from "./operator.ts";
import { hashOperatorToken, operatorTokenPrefix } from "./operator-tokens.ts";
import { tokenUseRecorder } from "./token-use.ts";

export interface OperatorAuthOptions {
  /** capflow's API tokens (`Authorization: Bearer cfo_…`). Omit to accept only `authenticate`. */
  tokens?: OperatorTokenStore;
  /** The host's own authentication, asked first (see `trustedHeaderAuth`). */
  authenticate?: OperatorAuthenticator;
}

/**
 * The operator API's `onRequest` hook, before any body is read: the host's hook first, then a
 * Bearer token; 401 `AUTH_REQUIRED` without a valid one, 403 `AUTH_FORBIDDEN` when the role is
 * below the route's `config.role`. A token's use is noted (`last_used_at`) at most once a minute,
 * without the request waiting for the write.
 */
export function operatorAuthHook(options: OperatorAuthOptions) {
  if (options.tokens === undefined && options.authenticate === undefined) {
    throw new CapflowError(
      "CONFIG_INVALID",
      "the operator API needs a way to authenticate: a token store (tokens) or a hook (authenticate)",
    );
  }
  const recordUse = options.tokens === undefined ? undefined : tokenUseRecorder(options.tokens);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const { operator, tokenId } = await authenticateOperator(request, options);
    if (tokenId !== undefined) recordUse?.(tokenId, request.log);
    request.operator = operator;
    const needed = request.routeOptions.config.role ?? "admin";
    if (!roleAllows(operator.role, needed)) {
      throw new CapflowError(
        "AUTH_FORBIDDEN",
        `${operator.name} is ${article(operator.role)} ${operator.role}; this needs the ${needed} role`,
      );
    }
    reply.header("cache-control", "no-store");
  };
}

async function authenticateOperator(
  request: FastifyRequest,
  options: OperatorAuthOptions,
): Promise<{ operator: Operator; tokenId?: string }> {
  const fromHost = await options.authenticate?.(request);
  if (fromHost !== undefined) return { operator: fromHost };
  const token = bearerToken(request.headers.authorization);
  if (token === undefined || options.tokens === undefined) {
    throw new CapflowError(
      "AUTH_REQUIRED",
      "authenticate with an operator token: Authorization: Bearer cfo_… (capflow tokens create)",
    );
  }
  const record = token.startsWith(operatorTokenPrefix)
    ? await options.tokens.findTokenByHash(hashOperatorToken(token))
    : undefined;
  if (record === undefined || record.revokedAt !== null) {
    // One answer for unknown, malformed and revoked tokens: nothing to learn from trying.
    throw new CapflowError(
      "AUTH_REQUIRED",
      "the operator token is not valid (unknown or revoked); ask an admin for a new one",
    );
  }
  return { operator: { name: record.name, role: record.role, via: "token" }, tokenId: record.id };
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +([^\s]+) *$/i.exec(header ?? "");
  return match?.[1];
}

function article(role: string): string {
  return /^[aeiou]/.test(role) ? "an" : "a";
}
