import type { NotificationRecord, NotificationStatus } from "@capflow/core";
import { iso } from "./instance-views.ts";

/**
 * A notification to the upstream as operators see it, in `GET /v1/ops/notifications` and the
 * answer of a resend (its payload was masked when it was written).
 */
export interface NotificationView {
  id: string;
  instanceId: string;
  type: string;
  status: NotificationStatus;
  target: string | null;
  attempts: number;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  lastError: { code: string; message: string } | null;
  resent: { by: string; at: string; why: string | null } | null;
  createdAt: string;
  payload: unknown;
}

const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export function notificationView(record: NotificationRecord): NotificationView {
  return {
    id: record.id,
    instanceId: record.instanceId,
    type: record.type,
    status: record.status,
    target: record.target,
    attempts: record.attempts,
    nextAttemptAt: isoOrNull(record.nextAttemptAt),
    deliveredAt: isoOrNull(record.deliveredAt),
    lastError: record.lastError,
    resent: record.resent && {
      by: record.resent.by,
      at: iso(record.resent.at),
      why: record.resent.why,
    },
    createdAt: iso(record.createdAt),
    payload: record.payload,
  };
}
