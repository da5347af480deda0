import {
  CapflowError,
  type DefinitionSource,
  failoverSuccession,
  type InstanceStore,
  type OperatorActionKind,
  previewFailedOver,
  previewOperatorAction,
  previewReopenedQuotas,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import type { ActionPreviewView } from "./action-preview-view.ts";
import { behaviorGraphView } from "./behavior-graph-view.ts";
import { mustGet } from "./instance-routes.ts";
import { iso } from "./instance-views.ts";
import type { InstanceGraphAnswer } from "./ops-answers.ts";
import { idParamsSchema } from "./request-schemas.ts";

export interface PreviewRoutesOptions {
  store: InstanceStore;
  definitions: DefinitionSource;
}

const previewBodySchema = {
  type: "object",
  required: ["action"],
  additionalProperties: false,
  properties: {
    action: { type: "string", enum: ["retry", "move", "cancel"] },
    step: { type: "string", minLength: 1, maxLength: 200 },
    callNotProcessed: {
      type: "boolean",
      description:
        "preview the move as sent with callNotProcessed: the partner confirmed it did not process the call whose outcome is unknown",
    },
  },
} as const;

/**
 * `GET /instances/:id/graph` (its pinned version's graph, the steps it may be moved to, its
 * channel's time zone; viewer role) and `POST /instances/:id/preview` (what retry, move or cancel
 * would do to it now, by the engine's own rules (a retry or move of an instance that failed over
 * is not allowed), and the `version` to send back as `expectedVersion` so the action applies to
 * the instance previewed or to nothing; operator role). A move previewed with `callNotProcessed`
 * is judged as the move sent with it is. Nothing is changed.
 */
export async function previewRoutes(app: FastifyInstance, options: PreviewRoutesOptions) {
  const { store, definitions } = options;

  const pinnedBehavior = async (id: string) => {
    const instance = await mustGet(store, id);
    const behavior = await definitions.getBehavior(
      instance.channel,
      instance.behavior,
      instance.behaviorVersion,
    );
    if (behavior === undefined) {
      throw new CapflowError(
        "DEFINITION_NOT_FOUND",
        `version ${instance.behaviorVersion} of ${instance.channel}/${instance.behavior} is not stored; push it again`,
        { context: { instance: id } },
      );
    }
    return { instance, behavior: behavior.definition };
  };

  app.get<{ Params: { id: string } }>(
    "/instances/:id/graph",
    { config: { role: "viewer" }, schema: { params: idParamsSchema } },
    async (request): Promise<InstanceGraphAnswer> => {
      const { instance, behavior } = await pinnedBehavior(request.params.id);
      const channel = await definitions.getChannel(instance.channel);
      return {
        graph: behaviorGraphView(behavior),
        moveTargets: Object.keys(behavior.steps),
        timeZone: channel?.definition.timeZone ?? "UTC",
      };
    },
  );

  app.post<{
    Params: { id: string };
    Body: { action: OperatorActionKind; step?: string; callNotProcessed?: boolean };
  }>(
    "/instances/:id/preview",
    { config: { role: "operator" }, schema: { params: idParamsSchema, body: previewBodySchema } },
    async (request): Promise<ActionPreviewView> => {
      const { action, step, callNotProcessed } = request.body;
      if (callNotProcessed !== undefined && action !== "move") {
        throw new CapflowError(
          "REQUEST_INVALID",
          `callNotProcessed is for a move, not a ${action}: leave it out`,
        );
      }
      const { instance, behavior } = await pinnedBehavior(request.params.id);
      const channel = await definitions.getChannel(instance.channel);
      // A move back to a call is judged by its last attempt, as the move itself will judge it.
      const callTarget =
        action === "move" &&
        step !== undefined &&
        Object.hasOwn(behavior.steps, step) &&
        behavior.steps[step]?.kind === "call";
      const history = callTarget ? await store.history(instance.id) : undefined;
      const now = Date.now();
      // A move that reopens a released instance reserves its quotas again: refused when full.
      const preview = await previewReopenedQuotas(
        previewFailedOver(
          previewOperatorAction(
            instance,
            behavior,
            action,
            now,
            step,
            channel?.definition,
            history,
            callNotProcessed === true,
          ),
          instance,
          await failoverSuccession(store, instance),
        ),
        instance,
        {
          store,
          product:
            instance.routing === null
              ? undefined
              : await definitions.getProduct(instance.routing.product),
          channel: channel?.definition,
          now,
        },
      );
      return {
        ...preview,
        nextRunAt: preview.nextRunAt === null ? null : iso(preview.nextRunAt),
        version: instance.version,
      };
    },
  );
}
