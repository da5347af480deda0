import {
  createDefaultSecretResolver,
  createNotificationSigner,
  signedContent,
} from "@capflow/core";
import { expect, test } from "vitest";

process.env.CAPFLOW_NOTIFY_SECRET = "shared-with-the-receiver";
const { verifyNotification } = await import("../verify-notification.ts");

test("the receiver sample accepts what capflow signs, and nothing else", async () => {
  const signer = await createNotificationSigner(
    { algorithm: "hmac-sha256", secret: { ref: "env:CAPFLOW_NOTIFY_SECRET" } },
    { secrets: createDefaultSecretResolver() },
  );
  const body = JSON.stringify({ id: "01J0", type: "instance.succeeded" });
  const now = Date.UTC(2026, 0, 5, 2);
  const timestamp = Math.floor(now / 1000);
  const signature = (await signer.sign(signedContent(timestamp, "01J0", body))).toString("base64");
  const headers = {
    "capflow-event-id": "01J0",
    "capflow-timestamp": String(timestamp),
    "capflow-signature": signature,
  };
  expect(verifyNotification(headers, body, now)).toBe(true);
  expect(verifyNotification(headers, body.replace("succeeded", "failed"), now)).toBe(false);
  expect(verifyNotification({ ...headers, "capflow-event-id": "01J1" }, body, now)).toBe(false);
  expect(verifyNotification(headers, body, now + 301_000)).toBe(false);
});
