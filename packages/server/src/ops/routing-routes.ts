import type { InstanceRecord, InstanceStore } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { mustGet } from "./instance-routes.ts";
import { idParamsSchema } from "./request-schemas.ts";
import { type InstanceRoutingView, instanceRoutingView } from "./routing-view.ts";

export interface RoutingRoutesOptions {
  store: InstanceStore;
}

/** A business tries at most its product's channels; this bounds a chain read all the same. */
const chainLimit = 50;

/**
 * `GET /instances/:id/routing`: how a product's instance was routed (candidates and why each was
 * passed over, the account, the quotas and their use now) and its business's instances, failovers
 * included. Viewer role.
 */
export async function routingRoutes(app: FastifyInstance, options: RoutingRoutesOptions) {
  const { store } = options;
  app.get<{ Params: { id: string } }>(
    "/instances/:id/routing",
    { config: { role: "viewer" }, schema: { params: idParamsSchema } },
    async (request): Promise<InstanceRoutingView> => {
      const instance = await mustGet(store, request.params.id);
      const quotas = instance.routing?.quotas ?? [];
      const [holds, usage, business] = await Promise.all([
        quotas.length === 0 ? [] : store.quotaHolds(instance.id),
        quotas.length === 0
          ? []
          : store.quotaUsage(quotas.map(({ scope, period }) => ({ scope, period }))),
        instance.product === null
          ? ([] as InstanceRecord[])
          : store.listInstances({
              product: instance.product,
              businessKey: instance.businessKey,
              limit: chainLimit,
            }),
      ]);
      return instanceRoutingView(instance, holds, usage, business);
    },
  );
}
