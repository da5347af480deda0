import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/** The secret capflow signs notifications with (its `hmac-sha256` key), shared with you. */
const secret = process.env.CAPFLOW_NOTIFY_SECRET ?? "";
/** How far capflow-timestamp may be from this server's clock, in seconds. */
const window = 300;
/** Event ids already processed: a table with a unique key in a real service. */
const processed = new Set<string>();
/** The last version applied per instance: a column of your own record in a real service. */
const appliedVersions = new Map<string, number>();

/** The part of a notification this receiver reads. */
export interface CapflowNotification {
  id: string;
  type: string;
  instance?: { id: string; businessKey: string; status: string; version: number };
}

/** Whether a delivery is capflow's: the signature over `<timestamp>.<event id>.<body>`, in time. */
export function verifyNotification(
  headers: Record<string, string | string[] | undefined>,
  body: string,
  now = Date.now(),
): boolean {
  const id = String(headers["capflow-event-id"] ?? "");
  const timestamp = Number(headers["capflow-timestamp"]);
  const signature = Buffer.from(String(headers["capflow-signature"] ?? ""), "base64");
  if (!Number.isInteger(timestamp) || Math.abs(now / 1000 - timestamp) > window) return false;
  const expected = createHmac("sha256", secret).update(`${timestamp}.${id}.${body}`).digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

/**
 * Acts on a verified notification unless it was seen or is stale; returns whether it acted.
 * Deliveries may come out of order (a failed one is retried later while a newer one goes out), so
 * one whose instance version is not newer than the last applied is acknowledged and ignored: an
 * operator's later correction (`instance.succeeded` then `instance.failed`) is never undone by a
 * late retry of the earlier one.
 */
export function applyNotification(event: CapflowNotification): boolean {
  if (processed.has(event.id)) return false;
  processed.add(event.id);
  const instance = event.instance;
  if (instance) {
    if (instance.version <= (appliedVersions.get(instance.id) ?? 0)) return false;
    appliedVersions.set(instance.id, instance.version);
  }
  console.log(`${instance?.businessKey ?? event.id}: ${event.type}`);
  return true;
}

export const receiver = createServer((request, response) => {
  let body = "";
  request.setEncoding("utf8");
  request.on("data", (chunk: string) => {
    body += chunk;
  });
  request.on("end", () => {
    if (!verifyNotification(request.headers, body)) {
      response.writeHead(401).end();
      return;
    }
    // At least once: the same event may come again. Act on it once, acknowledge it every time.
    applyNotification(JSON.parse(body) as CapflowNotification);
    response.writeHead(204).end();
  });
});
