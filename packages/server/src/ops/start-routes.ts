import type { Engine, StartRequest } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { actorOf } from "./action-routes.ts";
import { instanceSummary } from "./instance-views.ts";
import type { StartedInstanceAnswer } from "./ops-answers.ts";
import { noNul } from "./query-values.ts";
import { checkReason } from "./reason-check.ts";
import { reasonSchema } from "./request-schemas.ts";

const code = { type: "string", minLength: 1, maxLength: 200, pattern: noNul } as const;
const businessKey = { type: "string", minLength: 1, maxLength: 500, pattern: noNul } as const;
const input = { type: "object" } as const;

const startBodySchema = {
  oneOf: [
    {
      type: "object",
      required: ["channel", "behavior", "businessKey", "input", "reason"],
      additionalProperties: false,
      properties: { channel: code, behavior: code, businessKey, input, reason: reasonSchema },
    },
    {
      type: "object",
      required: ["product", "businessKey", "input", "reason"],
      additionalProperties: false,
      properties: { product: code, businessKey, input, reason: reasonSchema },
    },
  ],
} as const;

/**
 * `POST /instances`: starts a behavior for a business record from an operator's hands (what
 * `capflow instances start` sends to a running `capflow serve`), or returns the instance already
 * started for it, with its routing record (null unless started for a product). Operator role.
 * Takes a `reason`: the new instance's first history entry names the authenticated operator and
 * it, written with the insert. Upstream systems use the intake API instead.
 */
export async function startRoutes(app: FastifyInstance, options: { engine: Engine }) {
  app.post<{ Body: StartRequest & { reason: string } }>(
    "/instances",
    {
      config: { role: "operator" },
      schema: { body: startBodySchema },
      // Before the schema: its refusal of a missing reason inside `oneOf` says little.
      preValidation: async (request) => checkReason(request.body, "start an instance by hand"),
    },
    async (request): Promise<StartedInstanceAnswer> => {
      const { reason: _reason, ...start } = request.body;
      const instance = await options.engine.start({ ...start, actor: actorOf(request) });
      request.log.info(
        { instanceId: instance.id, operator: request.operator?.name },
        "instance started by an operator",
      );
      return { instance: { ...instanceSummary(instance), routing: instance.routing } };
    },
  );
}
