import {
  CapflowError,
  type InstanceStore,
  type NotificationStatus,
  type OutboxStore,
} from "@capflow/core";
import type { FastifyInstance } from "fastify";
import { actorOf } from "./action-routes.ts";
import { decodeCursor, encodeCursor } from "./list-cursor.ts";
import { type NotificationView, notificationView } from "./notification-view.ts";
import type { ListPage, NotificationResendAnswer } from "./ops-answers.ts";
import { noNul } from "./query-values.ts";
import { reasonRequired } from "./reason-check.ts";
import { idParamsSchema, reasonSchema } from "./request-schemas.ts";

interface NotificationQuery {
  status?: string;
  instanceId?: string;
  limit: number;
  cursor?: string;
}

const statuses: readonly NotificationStatus[] = ["pending", "delivered", "failed"];

const querySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    status: {
      type: "string",
      pattern: "^(pending|delivered|failed)(,(pending|delivered|failed))*$",
    },
    instanceId: { type: "string", minLength: 1, maxLength: 200, pattern: noNul },
    limit: { type: "integer", minimum: 1, maximum: 500, default: 50 },
    cursor: { type: "string", maxLength: 1000 },
  },
} as const;

const resendBodySchema = {
  type: "object",
  required: ["reason"],
  additionalProperties: false,
  properties: { reason: reasonSchema },
} as const;

/**
 * `GET /notifications` (viewer): notifications for the upstream, newest first, by status and
 * instance. `POST /notifications/:id/resend` (operator): delivers one again with a fresh retry
 * schedule, the same event id (receivers deduplicate on it) and body; the instance's history
 * records who re-sent it and why, in the same commit, without changing the instance. A
 * notification pending and not attempted since it was written or last re-sent is due already:
 * answered as it is with `outcome: "awaitingFirstAttempt"`, nothing re-sent and nothing recorded.
 */
export async function notificationRoutes(
  app: FastifyInstance,
  options: { store: InstanceStore & OutboxStore },
) {
  const { store } = options;
  app.get<{ Querystring: NotificationQuery }>(
    "/notifications",
    { config: { role: "viewer" }, schema: { querystring: querySchema } },
    async (request): Promise<ListPage<NotificationView>> => {
      const { status, instanceId, limit, cursor } = request.query;
      const rows = await store.listNotifications({
        ...(status
          ? {
              status: status
                .split(",")
                .filter((s): s is NotificationStatus => statuses.includes(s as NotificationStatus)),
            }
          : {}),
        ...(instanceId ? { instanceId } : {}),
        ...(cursor ? { before: decodeCursor(cursor) } : {}),
        limit,
      });
      const last = rows.at(-1);
      return {
        items: rows.map(notificationView),
        nextCursor:
          rows.length === limit && last !== undefined
            ? encodeCursor({ createdAt: last.createdAt, id: last.id })
            : null,
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/notifications/:id/resend",
    {
      config: { role: "operator" },
      preValidation: reasonRequired("re-send a notification"),
      schema: { params: idParamsSchema, body: resendBodySchema },
    },
    async (request): Promise<NotificationResendAnswer> => {
      const actor = actorOf(request);
      const { id } = request.params;
      // The re-send and its record in the instance's history are one commit that leaves the
      // instance's version alone: a worker mid-step still saves its result.
      const resent = await store.resendNotification({
        id,
        now: Date.now(),
        by: actor.who,
        why: actor.why,
      });
      if (resent === undefined)
        throw new CapflowError("REQUEST_NOT_FOUND", `no notification ${id}`);
      return { notification: notificationView(resent.notification), outcome: resent.outcome };
    },
  );
}
