import {
  CapflowError,
  type OperatorRole,
  type OperatorTokenRecord,
  type OperatorTokenStore,
  operatorRoles,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import {
  checkTokenReason,
  issueOperatorToken,
  revokeOperatorToken,
} from "../auth/operator-tokens.ts";
import { iso } from "./instance-views.ts";
import type { IssuedTokenAnswer, ItemList, RevokedTokenAnswer } from "./ops-answers.ts";
import { reasonSchema } from "./request-schemas.ts";

/**
 * A token as listed: never the token itself, which is shown once when made. Who made and revoked
 * it, when and why (reasons are null for tokens made or revoked before they were kept), and when
 * it was last used.
 */
export interface TokenView {
  id: string;
  name: string;
  role: OperatorRole;
  createdAt: string;
  createdBy: string | null;
  createdReason: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
  revokedReason: string | null;
  /** When it last authenticated a request, to the minute; null when never since this was kept. */
  lastUsedAt: string | null;
}

const createBodySchema = {
  type: "object",
  required: ["name", "role", "reason"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: 64 },
    role: { type: "string", enum: [...operatorRoles] },
    reason: reasonSchema,
  },
} as const;

const revokeBodySchema = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: reasonSchema },
} as const;

/** A route's `preValidation` hook: a usable reason, said in words before the schema refuses it. */
const tokenReasonRequired =
  (action: string) =>
  async (request: { body: unknown }): Promise<void> =>
    checkTokenReason(
      typeof request.body === "object" && request.body !== null
        ? (request.body as { reason?: unknown }).reason
        : undefined,
      action,
      '"reason" in the body',
    );

/**
 * `GET /tokens`, `POST /tokens` (the token in the answer, once), `POST /tokens/:id/revoke`.
 * Admin role. Making and revoking take a reason, kept with the token next to the admin's name and
 * listed. A token revoked stops working at its next request.
 */
export async function tokenRoutes(app: FastifyInstance, options: { tokens: OperatorTokenStore }) {
  const route = { config: { role: "admin" as const } };

  app.get(
    "/tokens",
    route,
    async (): Promise<ItemList<TokenView>> => ({
      items: (await options.tokens.listTokens()).map(tokenView),
    }),
  );

  app.post<{ Body: { name: string; role: OperatorTokenRecord["role"]; reason: string } }>(
    "/tokens",
    {
      ...route,
      preValidation: tokenReasonRequired("make a token"),
      schema: { body: createBodySchema },
    },
    async (request, reply) => {
      const { token, record } = await issueOperatorToken(options.tokens, {
        ...request.body,
        createdBy: request.operator?.name ?? null,
      });
      request.log.info(
        { tokenId: record.id, role: record.role, reason: record.createdReason },
        "operator token made",
      );
      const answer: IssuedTokenAnswer = { token, ...tokenView(record) };
      return reply.code(201).send(answer);
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/tokens/:id/revoke",
    {
      ...route,
      preValidation: tokenReasonRequired("revoke a token"),
      schema: { body: revokeBodySchema },
    },
    async (request): Promise<RevokedTokenAnswer> => {
      const revoked = await revokeOperatorToken(options.tokens, {
        idOrName: request.params.id,
        by: request.operator?.name ?? null,
        reason: request.body.reason,
      });
      if (revoked === undefined) {
        throw new CapflowError("REQUEST_NOT_FOUND", `no token ${request.params.id}`);
      }
      request.log.info(
        { tokenId: revoked.id, reason: request.body.reason },
        "operator token revoked",
      );
      return { token: tokenView(revoked) };
    },
  );
}

export function tokenView(record: OperatorTokenRecord): TokenView {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    createdAt: iso(record.createdAt),
    createdBy: record.createdBy,
    createdReason: record.createdReason,
    revokedAt: record.revokedAt === null ? null : iso(record.revokedAt),
    revokedBy: record.revokedBy,
    revokedReason: record.revokedReason,
    lastUsedAt: record.lastUsedAt === null ? null : iso(record.lastUsedAt),
  };
}
