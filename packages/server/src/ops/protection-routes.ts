import type { AlertRecord, AlertStore, StartQueueStore, StuckStore } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { iso } from "./instance-views.ts";
import type { ItemList } from "./ops-answers.ts";
import type {
  AlertHistoryEntryView,
  AlertView,
  QueueDepthView,
  StuckView,
} from "./protection-views.ts";

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
 * age). Shapes in `protection-views.ts`, docs in docs/protection.md.
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
      async (request): Promise<StuckView> => {
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
            since: iso(breach.since),
            detectedAt: iso(breach.detectedAt),
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
      async (request): Promise<ItemList<AlertView>> => {
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
      async (request): Promise<ItemList<AlertHistoryEntryView>> => {
        const history = await alerts.alertHistory(request.params.id);
        return {
          items: history.map((entry) => ({ ...entry, at: iso(entry.at) })),
        };
      },
    );
  }
  if (queues) {
    app.get(
      "/queues",
      { config: { role: "viewer" } },
      async (): Promise<ItemList<QueueDepthView>> => ({
        items: (await queues.queueDepths()).map((depth) => ({
          ...depth,
          oldestEnqueuedAt: depth.oldestEnqueuedAt === null ? null : iso(depth.oldestEnqueuedAt),
        })),
      }),
    );
  }
}

function alertView(alert: AlertRecord): AlertView {
  const isoOrNull = (at: number | null) => (at === null ? null : iso(at));
  const { lastRaisedAt, ...rest } = alert;
  return {
    ...rest,
    firedAt: iso(alert.firedAt),
    resolvedAt: isoOrNull(alert.resolvedAt),
    lastNotifiedAt: isoOrNull(alert.lastNotifiedAt),
    ...(lastRaisedAt === undefined ? {} : { lastRaisedAt: iso(lastRaisedAt) }),
  };
}
