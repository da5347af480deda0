import type { InstanceStore } from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { historyEntry, type InboxEntryView, inboxEntryView } from "./instance-views.ts";
import { decodeCursor, encodeCursor } from "./list-cursor.ts";
import type { LateNotificationView, ListPage } from "./ops-answers.ts";
import { queryDuration } from "./query-values.ts";

interface InboxQuery {
  olderThan?: string;
  limit: number;
  cursor?: string;
}

const inboxQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    olderThan: { type: "string", pattern: "^\\d+(ms|s|m|h|d)$" },
    limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
    cursor: { type: "string", maxLength: 1000 },
  },
} as const;

/**
 * `GET /inbox`: verified callbacks no step has consumed, oldest first: waiting for their
 * instance's callback step, or for a business key no instance has. Bodies masked. Viewer role.
 */
export async function inboxRoutes(app: FastifyInstance, options: { store: InstanceStore }) {
  app.get<{ Querystring: InboxQuery }>(
    "/inbox",
    { config: { role: "viewer" }, schema: { querystring: inboxQuerySchema } },
    async (request): Promise<ListPage<InboxEntryView>> => {
      const { olderThan, limit, cursor } = request.query;
      const entries = await options.store.staleInbox({
        receivedBefore: Date.now() + 1 - (olderThan ? queryDuration(olderThan, "olderThan") : 0),
        limit,
        ...(cursor ? { after: decodeInboxCursor(cursor) } : {}),
      });
      const last = entries.at(-1);
      return {
        items: entries.map(inboxEntryView),
        nextCursor:
          entries.length === limit && last !== undefined
            ? encodeCursor({ createdAt: last.receivedAt, id: last.id })
            : null,
      };
    },
  );
}

function decodeInboxCursor(cursor: string) {
  const position = decodeCursor(cursor);
  return { receivedAt: position.createdAt, id: position.id };
}

interface LateQuery {
  conflictsOnly?: boolean;
  limit: number;
  cursor?: string;
}

const lateQuerySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    conflictsOnly: { type: "boolean" },
    limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
    cursor: { type: "string", maxLength: 1000 },
  },
} as const;

/**
 * `GET /late-notifications`: notifications that came after their instance settled, as recorded in
 * its history, newest first; `conflictsOnly=true` keeps those contradicting the settled outcome
 * (money may have moved: reconcile with the funder). Viewer role.
 */
export async function lateNotificationRoutes(
  app: FastifyInstance,
  options: { store: InstanceStore },
) {
  app.get<{ Querystring: LateQuery }>(
    "/late-notifications",
    { config: { role: "viewer" }, schema: { querystring: lateQuerySchema } },
    async (request): Promise<ListPage<LateNotificationView>> => {
      const { conflictsOnly, limit, cursor } = request.query;
      const position = cursor ? decodeCursor(cursor) : undefined;
      const entries = await options.store.lateNotifications({
        limit,
        ...(conflictsOnly ? { conflictsOnly } : {}),
        ...(position ? { before: { startedAt: position.createdAt, id: position.id } } : {}),
      });
      const last = entries.at(-1);
      return {
        items: entries.map((entry) => ({ instanceId: entry.instanceId, ...historyEntry(entry) })),
        nextCursor:
          entries.length === limit && last !== undefined
            ? encodeCursor({ createdAt: last.startedAt, id: last.id })
            : null,
      };
    },
  );
}
