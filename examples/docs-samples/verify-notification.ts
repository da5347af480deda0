import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/** The secret capflow signs notifications with (its `hmac-sha256` key), shared with you. */
const secret = process.env.CAPFLOW_NOTIFY_SECRET ?? "";
/** How far capflow-timestamp may be from this server's clock, in seconds. */
const window = 300;
/** Event ids already processed: a table with a unique key in a real service. */
const processed = new Set<string>();

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
    const event = JSON.parse(body) as {
      id: string;
      type: string;
      instance: { businessKey: string };
    };
    // At least once: the same event may come again. Act on it once, acknowledge it every time.
    if (!processed.has(event.id)) {
      processed.add(event.id);
      console.log(`${event.instance.businessKey}: ${event.type}`);
    }
    response.writeHead(204).end();
  });
});
