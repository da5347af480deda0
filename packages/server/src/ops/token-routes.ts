import {
  CapflowError,
  type OperatorTokenRecord,
  type OperatorTokenStore,
  operatorRoles,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { issueOperatorToken } from "../auth/operator-tokens.ts";
import { iso } from "./instance-views.ts";
import type { IssuedTokenAnswer, ItemList, RevokedTokenAnswer } from "./ops-answers.ts";
import { reasonRequired } from "./reason-check.ts";
import { reasonSchema } from "./request-schemas.ts";

/** A token as listed: never the token itself, which is shown once when made. */
export interface TokenView {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  createdBy: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

const createBodySchema = {
  type: "object",
  required: ["name", "role"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: 64 },
    role: { type: "string", enum: [...operatorRoles] },
  },
} as const;

const revokeBodySchema = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: reasonSchema },
} as const;

/**
 * `GET /tokens`, `POST /tokens` (the token in the answer, once), `POST /tokens/:id/revoke`.
 * Admin role. A token revoked stops working at its next request.
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

  app.post<{ Body: { name: string; role: OperatorTokenRecord["role"] } }>(
    "/tokens",
    { ...route, schema: { body: createBodySchema } },
    async (request, reply) => {
      const { token, record } = await issueOperatorToken(options.tokens, {
        ...request.body,
        createdBy: request.operator?.name ?? null,
      });
      request.log.info({ tokenId: record.id, role: record.role }, "operator token made");
      const answer: IssuedTokenAnswer = { token, ...tokenView(record) };
      return reply.code(201).send(answer);
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/tokens/:id/revoke",
    {
      ...route,
      preValidation: reasonRequired("revoke a token"),
      schema: { body: revokeBodySchema },
    },
    async (request): Promise<RevokedTokenAnswer> => {
      const revoked = await options.tokens.revokeToken({
        idOrName: request.params.id,
        now: Date.now(),
        by: request.operator?.name ?? null,
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
    revokedAt: record.revokedAt === null ? null : iso(record.revokedAt),
    revokedBy: record.revokedBy,
  };
}
