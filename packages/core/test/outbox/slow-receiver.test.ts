import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { MemoryOutbox } from "../../src/memory/memory-outbox.ts";
import { createNotificationSigner } from "../../src/outbox/notification-signer.ts";
import type { NotificationTargets } from "../../src/outbox/notification-targets.ts";
import { OutboxDispatcher, type OutboxEvent } from "../../src/outbox/outbox-dispatcher.ts";

/** A receiver on loopback: answers 204 at once, or holds every request until released. */
async function receiver(hold: boolean) {
  const held: ServerResponse[] = [];
  let received = 0;
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    received++;
    request.resume();
    if (hold) held.push(response);
    else response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    received: () => received,
    release() {
      for (const response of held.splice(0)) response.writeHead(204).end();
    },
    async close() {
      this.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error(`not reached: ${what}`);
}

describe("a running dispatcher and a slow receiver", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  test("other clients' notifications go on while one client's receiver hangs", async () => {
    const slow = await receiver(true);
    const fast = await receiver(false);
    cleanups.push(
      () => slow.close(),
      () => fast.close(),
    );
    const store = new MemoryOutbox();
    const now = Date.now();
    const insert = (id: string, target: string) =>
      store.insert({
        id,
        instanceId: `i-${id}`,
        type: "instance.succeeded",
        payload: {} as never,
        target,
        createdAt: now,
        nextAttemptAt: now,
      });
    for (let i = 0; i < 40; i++) insert(`slow-${i}`, "slow-client");
    const targets = {
      resolve: (notification: { target: string | null }) =>
        notification.target === "slow-client" ? slow.url : fast.url,
    } as NotificationTargets;
    const signer = await createNotificationSigner(
      { algorithm: "hmac-sha256", secret: { ref: "env:SECRET" } },
      { secrets: createDefaultSecretResolver({ env: { SECRET: "s" } }) },
    );
    const delivered: string[] = [];
    const dispatcher = new OutboxDispatcher({
      store,
      targets,
      signer,
      batchSize: 16,
      idleMs: 20,
      timeoutMs: 30_000,
      leaseMs: 60_000,
      onEvent: (event: OutboxEvent) => {
        if (event.type === "notification.delivered") delivered.push(event.id);
      },
    });
    // Receivers close first (answering what they hold), so the dispatcher's stop does not wait.
    cleanups.push(
      () => dispatcher.close(),
      () => fast.close(),
      () => slow.close(),
    );
    dispatcher.start();
    // The slow client gets three quarters of the slots, not all of them.
    await until(() => slow.received() === 12, "twelve deliveries held by the slow receiver");
    insert("fast-1", "fast-client");
    insert("fast-2", "fast-client");
    await until(() => delivered.length === 2, "the fast client's notifications delivered");
    expect(delivered.sort()).toEqual(["fast-1", "fast-2"]);
    expect(slow.received()).toBe(12);
    // Released, the slow client's deliveries go on as slots free up, without a round's barrier.
    slow.release();
    await until(() => slow.received() >= 24, "the next slow deliveries");
    slow.release();
    await until(() => slow.received() >= 36, "more slow deliveries");
  });

  test("while a target is one short of its share, one claim fills every free slot", async () => {
    const slow = await receiver(true);
    const fast = await receiver(false);
    const store = new MemoryOutbox();
    const now = Date.now();
    const insert = (id: string, target: string) =>
      store.insert({
        id,
        instanceId: `i-${id}`,
        type: "instance.succeeded",
        payload: {} as never,
        target,
        createdAt: now,
        nextAttemptAt: now,
      });
    const claims: { limit: number; got: number }[] = [];
    const claimNotifications = store.claimNotifications.bind(store);
    store.claimNotifications = async (request) => {
      const got = await claimNotifications(request);
      claims.push({ limit: request.limit, got: got.length });
      return got;
    };
    for (let i = 0; i < 11; i++) insert(`slow-${i}`, "slow-client");
    const targets = {
      resolve: (notification: { target: string | null }) =>
        notification.target === "slow-client" ? slow.url : fast.url,
    } as NotificationTargets;
    const signer = await createNotificationSigner(
      { algorithm: "hmac-sha256", secret: { ref: "env:SECRET" } },
      { secrets: createDefaultSecretResolver({ env: { SECRET: "s" } }) },
    );
    const delivered: string[] = [];
    const dispatcher = new OutboxDispatcher({
      store,
      targets,
      signer,
      batchSize: 16,
      perTarget: 12,
      idleMs: 20,
      timeoutMs: 30_000,
      leaseMs: 60_000,
      onEvent: (event: OutboxEvent) => {
        if (event.type === "notification.delivered") delivered.push(event.id);
      },
    });
    cleanups.push(
      () => dispatcher.close(),
      () => fast.close(),
      () => slow.close(),
    );
    dispatcher.start();
    await until(() => slow.received() === 11, "eleven deliveries held by the slow receiver");
    claims.length = 0;
    // Five slots free, the slow client one short of its twelve: its next two and the fast
    // client's three come in one claim, one more of the slow client's and no more.
    insert("slow-11", "slow-client");
    insert("slow-12", "slow-client");
    for (let i = 0; i < 3; i++) insert(`fast-${i}`, "fast-client");
    await until(() => delivered.length === 3, "the fast client's notifications delivered");
    await until(() => slow.received() === 12, "the slow client at its share");
    expect(claims[0]).toEqual({ limit: 5, got: 4 });
    expect(delivered.sort()).toEqual(["fast-0", "fast-1", "fast-2"]);
    // Never past its share: slow-12 waits for a slot of its own client.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(slow.received()).toBe(12);
  });
});
