import {
  CapflowError,
  type DefinitionSource,
  type InstanceFilter,
  type InstanceStatus,
  type InstanceStore,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import {
  type InboxEntryView,
  type InstanceSummaryView,
  inboxEntryView,
  instanceDetail,
  instanceSummary,
} from "./instance-views.ts";
import { decodeCursor, encodeCursor } from "./list-cursor.ts";
import { maskingFor } from "./masking-rules.ts";
import type { InstanceAnswer, ItemList, ListPage } from "./ops-answers.ts";
import { maxVersion, noNul, queryDuration } from "./query-values.ts";
import { idParamsSchema } from "./request-schemas.ts";

export interface InstanceRoutesOptions {
  store: InstanceStore;
  definitions: DefinitionSource;
}

const statuses: InstanceStatus[] = [
  "active",
  "waiting",
  "succeeded",
  "failed",
  "manual",
  "cancelled",
];

interface ListQuery {
  channel?: string;
  behavior?: string;
  status?: string;
  step?: string;
  businessKey?: string;
  product?: string;
  version?: number;
  olderThan?: string;
  idleFor?: string;
  limit: number;
  cursor?: string;
}

const listQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    channel: { type: "string", minLength: 1, maxLength: 200, pattern: noNul },
    behavior: { type: "string", minLength: 1, maxLength: 200, pattern: noNul },
    status: { type: "string", pattern: `^(${statuses.join("|")})(,(${statuses.join("|")}))*$` },
    step: { type: "string", minLength: 1, maxLength: 200, pattern: noNul },
    businessKey: { type: "string", minLength: 1, maxLength: 500, pattern: noNul },
    product: { type: "string", minLength: 1, maxLength: 200, pattern: noNul },
    version: { type: "integer", minimum: 1, maximum: maxVersion },
    olderThan: { type: "string", pattern: "^\\d+(ms|s|m|h|d)$" },
    idleFor: { type: "string", pattern: "^\\d+(ms|s|m|h|d)$" },
    limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
    cursor: { type: "string", maxLength: 1000 },
  },
} as const;

/**
 * `GET /instances` (search, keyset paging), `GET /instances/:id` (with history),
 * `GET /instances/:id/inbox` (its unconsumed callbacks). Viewer role.
 */
export async function instanceRoutes(app: FastifyInstance, options: InstanceRoutesOptions) {
  const { store, definitions } = options;

  app.get<{ Querystring: ListQuery }>(
    "/instances",
    { config: { role: "viewer" }, schema: { querystring: listQuerySchema } },
    async (request): Promise<ListPage<InstanceSummaryView>> => {
      const query = request.query;
      const now = Date.now();
      const filter: InstanceFilter = {
        limit: query.limit,
        ...(query.channel ? { channel: query.channel } : {}),
        ...(query.behavior ? { behavior: query.behavior } : {}),
        ...(query.status ? { status: query.status.split(",") as InstanceStatus[] } : {}),
        ...(query.step ? { step: query.step } : {}),
        ...(query.businessKey ? { businessKey: query.businessKey } : {}),
        ...(query.product ? { product: query.product } : {}),
        ...(query.version ? { behaviorVersion: query.version } : {}),
        ...(query.olderThan
          ? { createdBefore: now - queryDuration(query.olderThan, "olderThan") }
          : {}),
        ...(query.idleFor ? { updatedBefore: now - queryDuration(query.idleFor, "idleFor") } : {}),
        ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
      };
      const found = await store.listInstances(filter);
      const last = found.at(-1);
      const items: InstanceSummaryView[] = found.map(instanceSummary);
      return {
        items,
        nextCursor:
          found.length === query.limit && last !== undefined
            ? encodeCursor({ createdAt: last.createdAt, id: last.id })
            : null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/instances/:id",
    { config: { role: "viewer" }, schema: { params: idParamsSchema } },
    async (request): Promise<InstanceAnswer> => {
      const instance = await mustGet(store, request.params.id);
      const [history, masking] = await Promise.all([
        store.history(instance.id),
        maskingFor(definitions, instance),
      ]);
      return { instance: instanceDetail(instance, history, masking) };
    },
  );

  app.get<{ Params: { id: string } }>(
    "/instances/:id/inbox",
    { config: { role: "viewer" }, schema: { params: idParamsSchema } },
    async (request): Promise<ItemList<InboxEntryView>> => {
      const instance = await mustGet(store, request.params.id);
      const entries = await store.pendingInbox({
        channel: instance.channel,
        businessKey: instance.businessKey,
        account: instance.account,
      });
      return { items: entries.map(inboxEntryView) };
    },
  );
}

export async function mustGet(store: InstanceStore, id: string) {
  const instance = await store.getInstance(id);
  if (instance === undefined) {
    throw new CapflowError("INSTANCE_NOT_FOUND", `no instance ${id}; check the id`, {
      context: { instance: id },
    });
  }
  return instance;
}
