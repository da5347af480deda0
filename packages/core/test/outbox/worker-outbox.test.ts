import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { createNotificationSigner } from "../../src/outbox/notification-signer.ts";
import { notificationTargets } from "../../src/outbox/notification-targets.ts";
import { OutboxDispatcher } from "../../src/outbox/outbox-dispatcher.ts";
import { Worker } from "../../src/runtime/worker.ts";
import { engineHarness } from "../support/harness.ts";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe("a worker delivers notifications", () => {
  test("settled instances are notified while it runs, and what is due when it stops", async () => {
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      received.push(String(request.headers["capflow-event-id"]));
      request.resume();
      response.writeHead(200).end();
    });
    receiver.listen(0, "127.0.0.1");
    await once(receiver, "listening");
    closers.push(() => new Promise((resolve) => receiver.close(() => resolve())));

    const h = engineHarness({ engine: { notifications: true } });
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const dispatcher = new OutboxDispatcher({
      store: h.store,
      targets: notificationTargets({
        fallback: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`,
      }),
      signer: await createNotificationSigner(
        { algorithm: "hmac-sha256", secret: { ref: "env:SECRET" } },
        { secrets: createDefaultSecretResolver({ env: { SECRET: "s" } }) },
      ),
      clock: h.clock,
      idleMs: 10_000,
    });
    closers.push(() => dispatcher.close());
    const worker = new Worker(h.engine, { clock: h.clock, outbox: dispatcher, inboxSweepMs: 0 });
    await h.startLoan("L-1");
    await h.startLoan("L-2");
    worker.start();
    expect(dispatcher.running).toBe(true);
    await expect.poll(async () => (await h.store.listNotifications({})).length).toBe(2);
    // The dispatcher sleeps on the manual clock: only the stop's flush delivers.
    await worker.stop();
    expect(dispatcher.running).toBe(false);
    const stored = await h.store.listNotifications({});
    expect(stored.map((n) => n.status)).toEqual(["delivered", "delivered"]);
    expect(received.sort()).toEqual(stored.map((n) => n.id).sort());
  });
});
