import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import {
  CapflowError,
  clientNotifyUrls,
  createDefaultSecretResolver,
  createNotificationSigner,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  notificationTargets,
  OutboxDispatcher,
  ProcessorRegistry,
  type QueuedStartNotificationPayload,
  StartQueue,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { KnexInstanceStore, KnexStartQueueStore, knexExclusiveRunner } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const secret = "queued-start-notify-secret";

/** An upstream's notification endpoint on loopback: checks the signature, keeps what it got. */
class Receiver {
  readonly received: { path: string; eventId: string; body: QueuedStartNotificationPayload }[] = [];
  refuseNext = 0;
  readonly server: Server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      const id = String(request.headers["capflow-event-id"]);
      const timestamp = String(request.headers["capflow-timestamp"]);
      const signature = Buffer.from(String(request.headers["capflow-signature"]), "base64");
      const expected = createHmac("sha256", secret).update(`${timestamp}.${id}.${body}`).digest();
      if (expected.length !== signature.length || !timingSafeEqual(expected, signature)) {
        response.writeHead(401).end();
        return;
      }
      if (this.refuseNext > 0) {
        this.refuseNext -= 1;
        response.writeHead(503).end();
        return;
      }
      this.received.push({ path: request.url ?? "", eventId: id, body: JSON.parse(body) });
      response.writeHead(204).end();
    });
  });
  url = "";
}

describe.skipIf(!databaseUrl)(
  databaseUrl ? "queued starts that expire are told upstream (PostgreSQL)" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    const receiver = new Receiver();
    beforeAll(async () => {
      db = await openTestPostgres();
      await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
      receiver.url = `http://127.0.0.1:${(receiver.server.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => receiver.server.close(resolve));
      await db.drop();
    });
    beforeEach(async () => {
      await truncateRuntimeTables(db);
      await db.knex.raw(`TRUNCATE "${db.schema}".queued_starts, "${db.schema}".outbox`);
      receiver.received.length = 0;
    });

    async function world(options: { refuseStarts?: boolean } = {}) {
      const clock = new ManualClock();
      const client = (id: string): UpstreamClientDefinition => ({
        id,
        signature: { algorithm: "hmac-sha256", key: { ref: "inline:unused-here" } },
        allowedIps: ["127.0.0.1"],
        allow: { behaviors: ["lanbank/*"] },
        notify: { url: `${receiver.url}/${id}` },
      });
      const definitions = new MemoryDefinitionSource({
        channels: [testChannel],
        behaviors: [loanBehavior()],
        clients: [client("platform"), client("partner")],
      });
      const instances = new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target });
      const engine = new Engine({
        store: instances,
        definitions,
        processors: new ProcessorRegistry(),
        transport: new ScriptedTransport().script("/loan/apply", { body: { status: "ACCEPTED" } }),
        clock,
        locks: new InProcessLockProvider({ clock }),
      });
      const refusing = {
        start: async () => {
          throw new CapflowError(
            "STORE_UNAVAILABLE",
            "PostgreSQL at db.internal:5432/loans did not answer (ECONNREFUSED)",
          );
        },
      };
      const queue = new StartQueue({
        store: new KnexStartQueueStore(db),
        engine: options.refuseStarts ? refusing : engine,
        clock,
        exclusive: knexExclusiveRunner(db),
        policies: [
          {
            channel: "lanbank",
            behavior: "loan",
            ratePerSecond: 5,
            concurrency: 1,
            ttl: "1m",
            retryBudget: 2,
          },
        ],
        notifications: true,
      });
      // The same dispatcher and targets as instance notifications: each client's notify.url.
      const dispatcher = new OutboxDispatcher({
        store: instances,
        targets: notificationTargets({ byName: clientNotifyUrls(definitions) }),
        signer: await createNotificationSigner(
          { algorithm: "hmac-sha256", secret: { ref: `inline:${secret}` } },
          { secrets: createDefaultSecretResolver({ allowInline: true }) },
        ),
        clock,
      });
      const enqueue = (loanNo: string, upstreamClient: string) =>
        queue.enqueue({
          channel: "lanbank",
          behavior: "loan",
          businessKey: loanNo,
          input: { loanNo, amount: 100, idCardNo: "110101199003071234" },
          upstreamClient,
        });
      return { clock, engine, queue, dispatcher, instances, enqueue };
    }

    const outboxRows = async () =>
      (
        (await db.knex.raw(
          `SELECT id, type, target, status FROM "${db.schema}".outbox ORDER BY id`,
        )) as { rows: { id: string; type: string; target: string | null; status: string }[] }
      ).rows;

    test("a queued start whose business has started meanwhile is closed as started with that instance, never told upstream as expired", async () => {
      const { clock, queue, engine, enqueue } = await world();
      // L-1 holds the one place (concurrency 1) and stays waiting for the funder's decision.
      await enqueue("L-1", "platform");
      expect((await queue.admit()).started).toBe(1);
      // A repeat of L-2 queued while its first start was being admitted: the instance exists.
      const started = await engine.start({
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-2",
        input: { loanNo: "L-2", amount: 100, idCardNo: "110101199003071234" },
      });
      const repeat = await enqueue("L-2", "platform");
      const other = await enqueue("L-3", "platform");
      await clock.advance(61_000);
      const round = await queue.admit();
      expect(round.expired.map((q) => q.businessKey)).toEqual(["L-3"]);
      expect(await outboxRows()).toEqual([
        {
          id: `${other.id}.start.expired`,
          type: "start.expired",
          target: "platform",
          status: "pending",
        },
      ]);
      const closed = await new KnexStartQueueStore(db).getQueued(repeat.id);
      expect(closed).toMatchObject({ status: "started", instanceId: started.id });
    });

    test("a start that expires in the queue is told to the client that queued it, through the outbox, at least once", async () => {
      const { clock, queue, dispatcher, enqueue, engine } = await world();
      const first = await enqueue("L-1", "platform");
      const second = await enqueue("L-2", "platform");
      const third = await enqueue("L-3", "partner");

      // Concurrency 1: one start goes in, the others wait, and expire after their minute.
      expect((await queue.admit()).started).toBe(1);
      const started = await engine.findInstance({
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-1",
      });
      expect(started?.upstreamClient).toBe("platform");
      await clock.advance(61_000);
      const round = await queue.admit();
      expect(round.expired.map((q) => q.businessKey)).toEqual(["L-2", "L-3"]);
      expect(round.expired.every((q) => q.status === "expired")).toBe(true);

      // Written with the expiry: pending before any dispatcher ran.
      expect(await outboxRows()).toEqual(
        [
          {
            id: `${second.id}.start.expired`,
            type: "start.expired",
            target: "platform",
            status: "pending",
          },
          {
            id: `${third.id}.start.expired`,
            type: "start.expired",
            target: "partner",
            status: "pending",
          },
        ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      );
      // A second round finds nothing more to expire and writes nothing more.
      await queue.admit();
      expect(await outboxRows()).toHaveLength(2);

      // The receiver refuses the first delivery; the retry brings it, signed, to each client's URL.
      receiver.refuseNext = 1;
      await dispatcher.deliverDue();
      expect(receiver.received).toHaveLength(1);
      await clock.advance(15_000);
      await dispatcher.deliverDue();
      expect(receiver.received.map((r) => [r.path, r.body.start.businessKey]).sort()).toEqual([
        ["/partner", "L-3"],
        ["/platform", "L-2"],
      ]);
      const toPlatform = receiver.received.find((r) => r.path === "/platform")!;
      expect(toPlatform.eventId).toBe(`${second.id}.start.expired`);
      expect(toPlatform.body).toEqual({
        id: `${second.id}.start.expired`,
        type: "start.expired",
        occurredAt: new Date(clock.now() - 15_000).toISOString(),
        start: {
          id: second.id,
          channel: "lanbank",
          behavior: "loan",
          businessKey: "L-2",
          enqueuedAt: new Date(second.enqueuedAt).toISOString(),
          expiresAt: new Date(second.expiresAt).toISOString(),
          attempts: 0,
        },
        error: null,
      });
      expect((await outboxRows()).map((row) => row.status)).toEqual(["delivered", "delivered"]);
      expect(first.upstreamClient).toBe("platform");
      await dispatcher.close();
      await engine.close();
    });

    test("a start given up after its retry budget is told with its last refusal", async () => {
      const { queue, dispatcher, enqueue, clock } = await world({ refuseStarts: true });
      const queued = await enqueue("L-9", "partner");
      await queue.admit();
      expect(await outboxRows()).toEqual([]);
      await clock.advance(1_000);
      const round = await queue.admit();
      expect(round.gaveUp.map((q) => q.status)).toEqual(["failed"]);
      expect(await outboxRows()).toEqual([
        {
          id: `${queued.id}.start.gave-up`,
          type: "start.gave-up",
          target: "partner",
          status: "pending",
        },
      ]);
      await dispatcher.deliverDue();
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]!.path).toBe("/partner");
      expect(receiver.received[0]!.body).toMatchObject({
        type: "start.gave-up",
        start: { businessKey: "L-9", attempts: 2 },
        // The upstream reads the public form: the operators' text names the database's host.
        error: {
          code: "STORE_UNAVAILABLE",
          retryable: true,
          message: "capflow's database failed; capflow's operators have the details",
        },
      });
      expect(JSON.stringify(receiver.received[0]!.body)).not.toContain("db.internal");
      await dispatcher.close();
    });

    test("an expiry commits with its notification or not at all", async () => {
      const { queue, enqueue, clock, engine } = await world();
      await enqueue("L-1", "platform");
      await queue.admit();
      const waiting = await enqueue("L-2", "platform");
      await clock.advance(61_000);
      // The outbox refuses the row: the expiry is rolled back with it.
      await db.knex.raw(
        `ALTER TABLE "${db.schema}".outbox ADD CONSTRAINT refuse_starts CHECK (type NOT LIKE 'start.%') NOT VALID`,
      );
      try {
        await expect(queue.admit()).rejects.toThrow();
        const still = await new KnexStartQueueStore(db).getQueued(waiting.id);
        expect(still?.status).toBe("queued");
        expect(await outboxRows()).toEqual([]);
      } finally {
        await db.knex.raw(`ALTER TABLE "${db.schema}".outbox DROP CONSTRAINT refuse_starts`);
      }
      expect((await queue.admit()).expired.map((q) => q.id)).toEqual([waiting.id]);
      expect((await outboxRows()).map((row) => row.type)).toEqual(["start.expired"]);
      await engine.close();
    });
  },
);
