import {
  type ChannelDefinition,
  type DefinitionSource,
  type OperationsView,
  settledStatuses,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { type InstanceSummaryView, instanceSummary } from "./instance-views.ts";
import { decodeCursor, encodeCursor } from "./list-cursor.ts";
import type { ListPage } from "./ops-answers.ts";
import type { OverviewRowView, OverviewView } from "./overview-view.ts";
import { type FlowStateSources, partnerHealth } from "./partner-health.ts";
import { queryDuration } from "./query-values.ts";

export interface OverviewRoutesOptions {
  operations: OperationsView;
  definitions: DefinitionSource;
  /** Breakers and limiters across the cluster; without it those columns are not known. */
  flow?: FlowStateSources;
}

/** Settled instances count in the overview when they settled within this window. */
const recentHours = 24;

const durationPattern = "^\\d+(ms|s|m|h|d)$";

/**
 * `GET /overview` (per channel and behavior: unsettled instances and those settled in the last 24
 * hours by status, the last hour's failure rate; the attention queue: manual review, parked,
 * stuck past `stuckAfter`, with counts and ages; the inbox and outbox backlogs; per channel
 * interface the last hour's partner latency, the breaker over every node and how full the shared
 * limits are) and `GET /attention/parked`
 * (the parked instances, keyset paging like `GET /instances`). Viewer role.
 */
export async function overviewRoutes(app: FastifyInstance, options: OverviewRoutesOptions) {
  const { operations, definitions, flow } = options;

  app.get<{ Querystring: { stuckAfter: string } }>(
    "/overview",
    {
      config: { role: "viewer" },
      schema: {
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { stuckAfter: { type: "string", pattern: durationPattern, default: "30m" } },
        },
      },
    },
    async (request): Promise<OverviewView> => {
      const now = Date.now();
      const stuckAfterMs = queryDuration(request.query.stuckAfter, "stuckAfter");
      const [overview, behaviors] = await Promise.all([
        operations.overview({ now, stuckAfterMs, recentMs: recentHours * 3_600_000 }),
        definitions.listBehaviors(),
      ]);
      const rows = new Map<string, OverviewRowView>();
      const rowOf = (channel: string, behavior: string) => {
        const key = `${channel}\u0000${behavior}`;
        let row = rows.get(key);
        if (row === undefined) {
          row = {
            channel,
            behavior,
            timeZone: "UTC",
            byStatus: {},
            total: 0,
            settledLastHour: 0,
            failedLastHour: 0,
            failureRate: null,
          };
          rows.set(key, row);
        }
        return row;
      };
      for (const count of overview.byStatus) {
        const row = rowOf(count.channel, count.behavior);
        row.byStatus[count.status] = (row.byStatus[count.status] ?? 0) + count.count;
        row.total += count.count;
      }
      for (const count of overview.settledLastHour) {
        const row = rowOf(count.channel, count.behavior);
        row.settledLastHour += count.count;
        if (count.status === "failed") row.failedLastHour += count.count;
      }
      const channels = new Map<string, ChannelDefinition | undefined>();
      const codes = new Set([
        ...behaviors.map((behavior) => behavior.channel),
        ...[...rows.values()].map((row) => row.channel),
      ]);
      for (const code of codes)
        channels.set(code, (await definitions.getChannel(code))?.definition);
      const health = await partnerHealth(
        [...channels.values()].filter((channel) => channel !== undefined),
        overview.partnerLatency,
        flow,
        now,
      );
      for (const row of rows.values()) {
        row.timeZone = channels.get(row.channel)?.timeZone ?? "UTC";
        row.failureRate =
          row.settledLastHour === 0 ? null : row.failedLastHour / row.settledLastHour;
      }
      return {
        now,
        stuckAfterMinutes: Math.round(stuckAfterMs / 60_000),
        recentHours,
        settledStatuses,
        rows: [...rows.values()].sort(
          (a, b) => a.channel.localeCompare(b.channel) || a.behavior.localeCompare(b.behavior),
        ),
        attention: overview.attention,
        inboxPending: overview.inboxPending,
        outbox: overview.outbox,
        partners: health.partners,
        accounts: health.accounts,
        flowState: health.flowState,
      };
    },
  );

  app.get<{
    Querystring: { channel?: string; behavior?: string; limit: number; cursor?: string };
  }>(
    "/attention/parked",
    {
      config: { role: "viewer" },
      schema: {
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            channel: { type: "string", minLength: 1, maxLength: 200 },
            behavior: { type: "string", minLength: 1, maxLength: 200 },
            limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
            cursor: { type: "string", maxLength: 1000 },
          },
        },
      },
    },
    async (request): Promise<ListPage<InstanceSummaryView>> => {
      const { channel, behavior, limit, cursor } = request.query;
      const found = await operations.listParked({
        limit,
        ...(channel ? { channel } : {}),
        ...(behavior ? { behavior } : {}),
        ...(cursor ? { after: decodeCursor(cursor) } : {}),
      });
      const last = found.at(-1);
      const items: InstanceSummaryView[] = found.map(instanceSummary);
      return {
        items,
        nextCursor:
          found.length === limit && last !== undefined
            ? encodeCursor({ createdAt: last.createdAt, id: last.id })
            : null,
      };
    },
  );
}
