import type { AlertStore, StartQueueStore, StuckStore } from "@capflow/core";
import type { FastifyInstance } from "fastify";

/** What the protection routes read: any of them (a route whose store is absent is not served). */
export interface ProtectionViews {
  stuck?: Pick<StuckStore, "listStuck" | "stuckCounts">;
  alerts?: Pick<AlertStore, "listAlerts" | "alertHistory">;
  queues?: Pick<StartQueueStore, "queueDepths">;
}

const code = { type: "string", minLength: 1, maxLength: 200 } as const;

/**
 * The business protection layer for operators (viewer role): `GET /stuck` (stuck instances and
 * their counts), `GET /alerts`, `GET /alerts/:id/history`, `GET /queues` (queued starts' depth and
 * age). Shapes: docs/protection.md.
 */
export async function protectionRoutes(app: FastifyInstance, options: ProtectionViews) {
  const { stuck, alerts, queues } = options;
  if (stuck) {
    app.get<{ Querystring: { channel?: string; behavior?: string; limit: number } }>(
      "/stuck",
      {
        config: { role: "viewer" },
        schema: {
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: {
              channel: code,
              behavior: code,
              limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
            },
          },
        },
      },
      async (request) => {
        const { channel, behavior, limit } = request.query;
        const items = await stuck.listStuck({
          ...(channel ? { channel } : {}),
          ...(behavior ? { behavior } : {}),
          limit,
        });
        return {
          counts: await stuck.stuckCounts(),
          items: items.map((breach) => ({
            instanceId: breach.instanceId,
            channel: breach.channel,
            behavior: breach.behavior,
            businessKey: breach.businessKey,
            step: breach.step,
            scope: breach.scope,
            slaMs: breach.slaMs,
            since: new Date(breach.since).toISOString(),
            detectedAt: new Date(breach.detectedAt).toISOString(),
          })),
        };
      },
    );
  }
  if (alerts) {
    app.get<{ Querystring: { status?: "firing" | "resolved"; limit: number } }>(
      "/alerts",
      {
        config: { role: "viewer" },
        schema: {
          querystring: {
            type: "object",
            additionalProperties: false,
            properties: {
              status: { enum: ["firing", "resolved"] },
              limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
            },
          },
        },
      },
      async (request) => {
        const { status, limit } = request.query;
        const items = await alerts.listAlerts({ ...(status ? { status } : {}), limit });
        return { items: items.map(alertView) };
      },
    );
    app.get<{ Params: { id: string } }>(
      "/alerts/:id/history",
      {
        config: { role: "viewer" },
        schema: {
          params: {
            type: "object",
            properties: { id: { type: "string", format: "uuid" } },
            required: ["id"],
          },
        },
      },
      async (request) => {
        const history = await alerts.alertHistory(request.params.id);
        return {
          items: history.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })),
        };
      },
    );
  }
  if (queues) {
    app.get("/queues", { config: { role: "viewer" } }, async () => ({
      items: (await queues.queueDepths()).map((depth) => ({
        ...depth,
        oldestEnqueuedAt:
          depth.oldestEnqueuedAt === null ? null : new Date(depth.oldestEnqueuedAt).toISOString(),
      })),
    }));
  }
}

function alertView(alert: Awaited<ReturnType<AlertStore["listAlerts"]>>[number]) {
  const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());
  return {
    ...alert,
    firedAt: iso(alert.firedAt),
    resolvedAt: iso(alert.resolvedAt),
    lastNotifiedAt: iso(alert.lastNotifiedAt),
  };
}
