import {
  type Actor,
  CapflowError,
  type DefinitionSource,
  type Engine,
  type InstanceStore,
} from "@capflow/core";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { mustGet } from "./instance-routes.ts";
import { instanceSummary } from "./instance-views.ts";
import type { InstanceSummaryAnswer } from "./ops-answers.ts";
import { reasonRequired } from "./reason-check.ts";
import { actionBodySchema, idParamsSchema, moveBodySchema } from "./request-schemas.ts";

export interface ActionRoutesOptions {
  engine: Engine;
  store: InstanceStore;
  definitions: DefinitionSource;
}

interface ActionBody {
  reason: string;
  expectedVersion: number;
}

/**
 * `POST /instances/:id/retry`, `/move`, `/cancel`. Operator role. Each names the authenticated
 * operator and the reason in the history, and applies only to the instance at `expectedVersion`
 * (409 `STORE_CONFLICT` otherwise, nothing changed).
 */
export async function actionRoutes(app: FastifyInstance, options: ActionRoutesOptions) {
  const { engine, store, definitions } = options;
  const route = { config: { role: "operator" as const } };

  app.post<{ Params: { id: string }; Body: ActionBody }>(
    "/instances/:id/retry",
    {
      ...route,
      preValidation: reasonRequired("retry the instance"),
      schema: { params: idParamsSchema, body: actionBodySchema },
    },
    async (request): Promise<InstanceSummaryAnswer> => {
      const { id } = request.params;
      const instance = await engine.retryNow(id, actorOf(request), {
        expectedVersion: request.body.expectedVersion,
      });
      return { instance: instanceSummary(instance) };
    },
  );

  app.post<{
    Params: { id: string };
    Body: ActionBody & { step: string; callNotProcessed?: boolean };
  }>(
    "/instances/:id/move",
    {
      ...route,
      preValidation: reasonRequired("move the instance"),
      schema: { params: idParamsSchema, body: moveBodySchema },
    },
    async (request): Promise<InstanceSummaryAnswer> => {
      const { id } = request.params;
      const { step, expectedVersion, callNotProcessed } = request.body;
      const current = await mustGet(store, id);
      const behavior = await definitions.getBehavior(
        current.channel,
        current.behavior,
        current.behaviorVersion,
      );
      const steps = behavior?.definition.steps ?? {};
      if (!Object.hasOwn(steps, step)) {
        throw new CapflowError(
          "REQUEST_INVALID",
          `${current.channel}/${current.behavior} version ${current.behaviorVersion} has no step "${step}"; its steps: ${Object.keys(steps).join(", ")}`,
          { context: { instance: id, step } },
        );
      }
      const instance = await engine.moveTo(id, step, actorOf(request), {
        expectedVersion,
        ...(callNotProcessed === undefined ? {} : { callNotProcessed }),
      });
      return { instance: instanceSummary(instance) };
    },
  );

  app.post<{ Params: { id: string }; Body: ActionBody }>(
    "/instances/:id/cancel",
    {
      ...route,
      preValidation: reasonRequired("cancel the instance"),
      schema: { params: idParamsSchema, body: actionBodySchema },
    },
    async (request): Promise<InstanceSummaryAnswer> => {
      const { id } = request.params;
      const instance = await engine.cancel(id, actorOf(request), {
        expectedVersion: request.body.expectedVersion,
      });
      return { instance: instanceSummary(instance) };
    },
  );
}

/** The authenticated operator and the reason given; never a name from the body. */
export function actorOf(request: FastifyRequest<{ Body: { reason: string } }>): Actor {
  const operator = request.operator;
  if (operator === null) {
    throw new CapflowError("AUTH_REQUIRED", "authenticate as an operator first");
  }
  return { who: operator.name, why: request.body.reason };
}
