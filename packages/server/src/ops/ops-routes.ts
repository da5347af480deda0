import {
  CapflowError,
  type DefinitionSource,
  type Engine,
  type InstanceStore,
  isOperationsView,
  isOutboxStore,
  type OperationsView,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { type OperatorAuthOptions, operatorAuthHook } from "../auth/authenticate.ts";
import { refuseNulCharacters } from "../http/nul-characters.ts";
import { actionRoutes } from "./action-routes.ts";
import { definitionRoutes } from "./definition-routes.ts";
import { inboxRoutes, lateNotificationRoutes } from "./inbox-routes.ts";
import { instanceRoutes } from "./instance-routes.ts";
import { migrationRoutes } from "./migration-routes.ts";
import { notificationRoutes } from "./notification-routes.ts";
import type { WhoamiAnswer } from "./ops-answers.ts";
import { overviewRoutes } from "./overview-routes.ts";
import type { FlowStateSources } from "./partner-health.ts";
import { previewRoutes } from "./preview-routes.ts";
import { type ProtectionViews, protectionRoutes } from "./protection-routes.ts";
import { routingRoutes } from "./routing-routes.ts";
import { startRoutes } from "./start-routes.ts";
import { tokenRoutes } from "./token-routes.ts";

export interface OperatorApiOptions extends OperatorAuthOptions {}

interface OpsRoutesOptions extends OperatorApiOptions {
  engine: Engine;
  store: InstanceStore;
  definitions: DefinitionSource;
  /** The overview and the parked queue; without it those two routes are absent. */
  operations?: OperationsView;
  /** Stuck instances, alerts and queued starts; without it those routes are absent. */
  protection?: ProtectionViews;
  /** Breakers and limiters across the cluster, for the overview. */
  flow?: FlowStateSources;
  /** How long one migration request works before it answers interrupted (see `ServerLimits`). */
  migrationTimeMs: number;
}

/**
 * The operator API under `/v1/ops`: every request authenticated before its body is read, every
 * route with the least role it needs (`config.role`). The answers' shapes are in
 * `ops-answers.ts` and the `*-view(s).ts` files beside it, docs in docs/serving.md.
 */
export async function opsRoutes(app: FastifyInstance, options: OpsRoutesOptions) {
  app.decorateRequest("operator", null);
  app.addHook("onRequest", operatorAuthHook(options));
  // Before each route's own checks: a NUL anywhere in a body (a reason, a start's input) is a
  // 400 naming the field, not a database failure after the action was prepared.
  app.addHook("preValidation", async (request) =>
    refuseNulCharacters(request.body, "REQUEST_INVALID"),
  );
  app.get("/whoami", { config: { role: "viewer" } }, async (request): Promise<WhoamiAnswer> => {
    if (request.operator === null) {
      throw new CapflowError("AUTH_REQUIRED", "authenticate as an operator first");
    }
    return { operator: request.operator };
  });
  const { engine, store, definitions } = options;
  await app.register(instanceRoutes, { store, definitions });
  await app.register(routingRoutes, { store });
  await app.register(actionRoutes, { engine, store, definitions });
  await app.register(inboxRoutes, { store });
  await app.register(lateNotificationRoutes, { store });
  await app.register(migrationRoutes, { engine, timeMs: options.migrationTimeMs });
  if (isOutboxStore(store)) await app.register(notificationRoutes, { store });
  await app.register(previewRoutes, { store, definitions });
  await app.register(definitionRoutes, { store, definitions });
  const operations = options.operations ?? (isOperationsView(store) ? store : undefined);
  if (operations) {
    await app.register(overviewRoutes, {
      operations,
      definitions,
      ...(options.flow ? { flow: options.flow } : {}),
    });
  }
  await app.register(startRoutes, { engine });
  if (options.protection) await app.register(protectionRoutes, options.protection);
  if (options.tokens) await app.register(tokenRoutes, { tokens: options.tokens });
}
