import {
  createDefaultSecretResolver,
  createNotificationSigner,
  signedContent,
} from "@capflow/core";
import { expect, test } from "vitest";

process.env.CAPFLOW_NOTIFY_SECRET = "shared-with-the-receiver";
const { applyNotification, verifyNotification } = await import("../verify-notification.ts");

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

test("the receiver sample acts on each event once, and never on one older than what it applied", () => {
  const instance = { id: "01JI", businessKey: "L-1" };
  const attention = {
    id: "01JA",
    type: "instance.attention",
    instance: { ...instance, status: "manual", version: 5 },
  };
  const succeeded = {
    id: "01JS",
    type: "instance.succeeded",
    instance: { ...instance, status: "succeeded", version: 6 },
  };
  const failed = {
    id: "01JF",
    type: "instance.failed",
    instance: { ...instance, status: "failed", version: 7 },
  };
  expect(applyNotification(succeeded)).toBe(true);
  expect(applyNotification(succeeded)).toBe(false);
  // A retried older delivery arrives after the newer one: acknowledged, not acted on.
  expect(applyNotification(attention)).toBe(false);
  expect(applyNotification(failed)).toBe(true);
  expect(applyNotification({ ...succeeded, id: "01JR" })).toBe(false);
  expect(applyNotification({ id: "01JQ", type: "start.expired" })).toBe(true);
});
