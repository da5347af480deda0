import type { Engine, StartRequest } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { instanceSummary } from "./instance-views.ts";
import type { StartedInstanceAnswer } from "./ops-answers.ts";

const code = { type: "string", minLength: 1, maxLength: 200 } as const;
const businessKey = { type: "string", minLength: 1, maxLength: 500 } as const;
const input = { type: "object" } as const;

const startBodySchema = {
  oneOf: [
    {
      type: "object",
      required: ["channel", "behavior", "businessKey", "input"],
      additionalProperties: false,
      properties: { channel: code, behavior: code, businessKey, input },
    },
    {
      type: "object",
      required: ["product", "businessKey", "input"],
      additionalProperties: false,
      properties: { product: code, businessKey, input },
    },
  ],
} as const;

/**
 * `POST /instances`: starts a behavior for a business record from an operator's hands (what
 * `capflow instances start` sends to a running `capflow serve`), or returns the instance already
 * started for it, with its routing record (null unless started for a product). Operator role.
 * Upstream systems use the intake API instead.
 */
export async function startRoutes(app: FastifyInstance, options: { engine: Engine }) {
  app.post<{ Body: StartRequest }>(
    "/instances",
    { config: { role: "operator" }, schema: { body: startBodySchema } },
    async (request): Promise<StartedInstanceAnswer> => {
      const instance = await options.engine.start(request.body);
      request.log.info(
        { instanceId: instance.id, operator: request.operator?.name },
        "instance started by an operator",
      );
      return { instance: { ...instanceSummary(instance), routing: instance.routing } };
    },
  );
}
