import type { NotificationRecord } from "../ports/outbox-store.ts";

/**
 * Where a notification is delivered: resolved at each attempt, so a changed URL applies to
 * notifications still pending. Undefined when nothing is configured for it: the attempt fails
 * (`NOTIFICATION_TARGET_MISSING`) and follows the retry schedule like any other.
 */
export interface NotificationTargets {
  resolve(notification: NotificationRecord): Promise<string | undefined> | string | undefined;
}

/**
 * Targets by name (a notification's `target`, e.g. the upstream client that started the
 * instance), falling back to `fallback` for notifications without one or with an unknown one.
 */
export function notificationTargets(options: {
  fallback?: string;
  byName?: Record<string, string> | ((name: string) => Promise<string | undefined>);
}): NotificationTargets {
  const { fallback, byName } = options;
  return {
    async resolve(notification) {
      if (notification.target !== null && byName !== undefined) {
        const url =
          typeof byName === "function"
            ? await byName(notification.target)
            : Object.hasOwn(byName, notification.target)
              ? byName[notification.target]
              : undefined;
        if (url !== undefined) return url;
      }
      return fallback;
    },
  };
}

/**
 * Names resolved as upstream client ids to each client's `notify.url` (`*.client.json`), for
 * `notificationTargets({ byName })`.
 */
export function clientNotifyUrls(definitions: {
  getClient(id: string): Promise<{ definition: { notify?: { url: string } } } | undefined>;
}): (name: string) => Promise<string | undefined> {
  return async (name) => (await definitions.getClient(name))?.definition.notify?.url;
}
