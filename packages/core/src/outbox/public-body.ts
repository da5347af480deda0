import type { NotificationRecord } from "../ports/outbox-store.ts";
import { publicError } from "../public-error.ts";

/**
 * The payload as it goes to the upstream: its `error` in public form whatever wrote the row. A row
 * written before the public form (or by an older node during a rolling upgrade, or re-sent after
 * an upgrade) stores the operators' text, which may name a funder's address or a key's path; the
 * sentence is taken from the code again, and a `retryable` the writer stored is kept.
 */
export function publicBody(payload: NotificationRecord["payload"]): NotificationRecord["payload"] {
  const stored: unknown = (payload as { error?: unknown }).error;
  if (stored === null || stored === undefined) return payload;
  const { code, retryable } = stored as { code?: unknown; retryable?: unknown };
  const error = publicError({ code: typeof code === "string" ? code : "", message: "" });
  return {
    ...payload,
    error: typeof retryable === "boolean" ? { ...error, retryable } : error,
  } as NotificationRecord["payload"];
}
