import type { InstanceStore } from "@capflow/core";
import { parseDuration } from "@capflow/core/internal";
import type { FastifyInstance } from "fastify";
import { inboxEntryView } from "./instance-views.ts";
import { decodeCursor, encodeCursor } from "./list-cursor.ts";

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
    async (request) => {
      const { olderThan, limit, cursor } = request.query;
      const entries = await options.store.staleInbox({
        receivedBefore: Date.now() + 1 - (olderThan ? parseDuration(olderThan as `${number}s`) : 0),
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
