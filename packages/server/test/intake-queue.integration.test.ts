import { createHmac, generateKeyPairSync, randomBytes, sign, timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import {
  type BehaviorDefinition,
  clientNotifyUrls,
  createDefaultSecretResolver,
  createEngine,
  createNotificationSigner,
  type Engine,
  ManualClock,
  notificationTargets,
  OutboxDispatcher,
  ProcessorRegistry,
  registerBuiltinProcessors,
  StartQueue,
  type UpstreamClientDefinition,
} from "@capflow/core";
import {
  type CapflowDatabase,
  KnexIntakeStore,
  KnexStartQueueStore,
  knexExclusiveRunner,
  openPostgresStore,
  pushDefinitions,
} from "@capflow/store-knex";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createServer, signedString } from "../src/index.ts";
import { orderBehavior, shopChannel } from "./support/shop-definitions.ts";
import { databaseUrl, skipMessage } from "./support/test-server.ts";

const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const notifySecret = "queued-intake-notify-secret";

const orderWithSchema: BehaviorDefinition = {
  ...orderBehavior,
  inputSchema: {
    type: "object",
    required: ["mobile", "amount"],
    properties: {
      mobile: { type: "string", pattern: "^1\\d{10}$" },
      amount: { type: "integer", minimum: 1 },
    },
  },
};

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field in assertions
  body: any;
}

/** The upstream's notification endpoint on loopback: verifies the signature, keeps the bodies. */
function notificationReceiver() {
  const received: { path: string; eventId: string; body: Record<string, unknown> }[] = [];
  const server: Server = createHttpServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      const id = String(request.headers["capflow-event-id"]);
      const timestamp = String(request.headers["capflow-timestamp"]);
      const signature = Buffer.from(String(request.headers["capflow-signature"]), "base64");
      const expected = createHmac("sha256", notifySecret)
        .update(`${timestamp}.${id}.${body}`)
        .digest();
      if (expected.length !== signature.length || !timingSafeEqual(expected, signature)) {
        response.writeHead(401).end();
        return;
      }
      received.push({ path: request.url ?? "", eventId: id, body: JSON.parse(body) });
      response.writeHead(204).end();
    });
  });
  return { server, received };
}

describe.skipIf(!databaseUrl)(
  databaseUrl ? "queued starts through the intake API over HTTP (PostgreSQL)" : skipMessage,
  () => {
    let db: CapflowDatabase;
    let engine: Engine;
    let app: FastifyInstance;
    let port: number;
    let queue: StartQueue;
    let dispatcher: OutboxDispatcher;
    const queueClock = new ManualClock();
    const receiver = notificationReceiver();
    const schema = `capflow_test_${randomBytes(5).toString("hex")}`;

    beforeAll(async () => {
      process.env.INTAKE_QUEUE_TEST_KEY = publicKey
        .export({ type: "spki", format: "pem" })
        .toString();
      await new Promise<void>((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
      const receiverPort = (receiver.server.address() as { port: number }).port;
      const platform: UpstreamClientDefinition = {
        id: "platform",
        signature: { algorithm: "rsa-sha256", key: { ref: "env:INTAKE_QUEUE_TEST_KEY" } },
        allowedIps: ["127.0.0.0/8", "::1/128"],
        allow: { behaviors: ["shop/order"] },
        notify: { url: `http://127.0.0.1:${receiverPort}/platform` },
      };
      db = openPostgresStore({ connectionString: databaseUrl!, schema, pool: { max: 6 } });
      await db.migrate();
      await pushDefinitions(db, {
        channels: [shopChannel],
        behaviors: [orderWithSchema],
        clients: [platform],
      });
      engine = createEngine({
        store: db.instances,
        definitions: db.definitions,
        processors: registerBuiltinProcessors(new ProcessorRegistry()),
      });
      queue = new StartQueue({
        store: new KnexStartQueueStore(db),
        engine,
        definitions: db.definitions,
        clock: queueClock,
        exclusive: knexExclusiveRunner(db),
        policies: [{ channel: "shop", behavior: "order", ratePerSecond: 2, ttl: "1m" }],
        notifications: true,
      });
      dispatcher = new OutboxDispatcher({
        store: db.instances,
        targets: notificationTargets({ byName: clientNotifyUrls(db.definitions) }),
        signer: await createNotificationSigner(
          { algorithm: "hmac-sha256", secret: { ref: `inline:${notifySecret}` } },
          { secrets: createDefaultSecretResolver({ allowInline: true }) },
        ),
        clock: queueClock,
      });
      app = createServer({
        log: false,
        engine,
        intake: {
          definitions: db.definitions,
          store: new KnexIntakeStore(db.knex, { schema }),
          bodyLimitBytes: 2048,
          queue,
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      port = (app.server.address() as { port: number }).port;
    }, 60_000);
    afterAll(async () => {
      await app?.close();
      await dispatcher?.close();
      await engine?.close();
      await new Promise((resolve) => receiver.server.close(resolve));
      await db?.knex.raw(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db?.close();
    });

    const count = async (table: string) =>
      (
        (await db.knex.raw(`SELECT count(*)::int AS n FROM "${schema}"."${table}"`)) as {
          rows: { n: number }[];
        }
      ).rows[0]!.n;
    const counts = async () => ({
      queued: await count("queued_starts"),
      instances: await count("instances"),
      nonces: await count("intake_nonces"),
      keys: await count("intake_requests"),
      outbox: await count("outbox"),
    });

    function send(
      method: string,
      path: string,
      headers: Record<string, string>,
      body?: Buffer,
    ): Promise<Sent> {
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port,
            method,
            path,
            headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: text ? JSON.parse(text) : undefined,
              });
            });
          },
        );
        req.on("error", reject);
        if (body) req.write(body);
        req.end();
      });
    }

    /** Signs like the upstream platform: RSA-SHA256 over the sorted fields. */
    function signed(
      method: string,
      path: string,
      value: unknown,
      options: { idempotencyKey?: string; tamper?: boolean } = {},
    ) {
      const body = value === undefined ? undefined : Buffer.from(JSON.stringify(value), "utf8");
      const timestamp = String(Math.floor(Date.now() / 1000));
      const nonce = randomBytes(16).toString("hex");
      const data = signedString({
        method,
        path,
        timestamp,
        nonce,
        body: body ?? Buffer.alloc(0),
        fields: value as Record<string, unknown> | undefined,
        canonical: "sortedFields",
      });
      let signature = sign("sha256", data, privateKey).toString("base64");
      if (options.tamper) signature = `${signature.slice(0, -4)}AAA=`;
      const headers: Record<string, string> = {
        "x-capflow-client": "platform",
        "x-capflow-timestamp": timestamp,
        "x-capflow-nonce": nonce,
        "x-capflow-signature": signature,
        ...(body ? { "content-type": "application/json" } : {}),
        ...(options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {}),
      };
      return { headers, body };
    }

    const order = (
      businessKey: string,
      input: Record<string, unknown> = { mobile: "13800138000", amount: 100 },
    ) => ({ channel: "shop", behavior: "order", businessKey, input });
    const post = (value: unknown, options: { idempotencyKey?: string; tamper?: boolean } = {}) => {
      const request = signed("POST", "/v1/instances", value, options);
      return send("POST", "/v1/instances", request.headers, request.body);
    };
    const read = (businessKey: string) => {
      const path = `/v1/instances/shop/order/${businessKey}`;
      return send("GET", path, signed("GET", path, undefined).headers);
    };

    test("a queued behavior's start is queued (202), a repeat answers the same queued start, and admission at the rate turns it into its instance", async () => {
      const before = await counts();
      const first = await post(order("Q-1"));
      expect(first.status).toBe(202);
      expect(first.body.queuedStart).toEqual({
        id: expect.any(String),
        channel: "shop",
        behavior: "order",
        businessKey: "Q-1",
        status: "queued",
        enqueuedAt: new Date(queueClock.now()).toISOString(),
        expiresAt: new Date(queueClock.now() + 60_000).toISOString(),
        attempts: 0,
        instanceId: null,
        error: null,
        finishedAt: null,
      });
      expect((await post(order("Q-2"))).status).toBe(202);
      expect((await post(order("Q-3"))).status).toBe(202);

      // A repeat (a new request, the same start): the same queued start, nothing more queued.
      const repeat = await post(order("Q-1"));
      expect(repeat.status).toBe(202);
      expect(repeat.body.queuedStart.id).toBe(first.body.queuedStart.id);
      // With an Idempotency-Key: the stored answer on its repeat.
      const keyed = await post(order("Q-2"), { idempotencyKey: "key-q-2" });
      const keyedAgain = await post(order("Q-2"), { idempotencyKey: "key-q-2" });
      expect(keyedAgain.headers["idempotent-replayed"]).toBe("true");
      expect(keyedAgain.body).toEqual(keyed.body);
      // The same business key with other input is refused, as for a direct start.
      const other = await post(order("Q-1", { mobile: "13800138000", amount: 7 }));
      expect(other.status).toBe(409);
      expect(other.body.error.code).toBe("INSTANCE_INPUT_MISMATCH");
      expect(await counts()).toMatchObject({
        queued: before.queued + 3,
        instances: before.instances,
      });

      // Waiting: reading the business key answers its queued start.
      const waiting = await read("Q-1");
      expect(waiting.status).toBe(200);
      expect(waiting.body.queuedStart).toMatchObject({
        id: first.body.queuedStart.id,
        status: "queued",
      });

      // Two a second, first in first out.
      expect((await queue.admit()).started).toBe(2);
      expect((await queue.admit()).started).toBe(0);
      expect((await read("Q-3")).body.queuedStart.status).toBe("queued");
      await queueClock.advance(1_000);
      expect((await queue.admit()).started).toBe(1);

      // Admitted: the start and the read answer the instance, started for the client.
      const admitted = await post(order("Q-1"));
      expect(admitted.status).toBe(200);
      expect(admitted.body.instance).toMatchObject({
        channel: "shop",
        behavior: "order",
        businessKey: "Q-1",
        status: "waiting",
      });
      const instance = await engine.getInstance(admitted.body.instance.id);
      expect(instance?.upstreamClient).toBe("platform");
      expect((await read("Q-1")).body.instance.id).toBe(admitted.body.instance.id);
      const stored = await new KnexStartQueueStore(db).getQueued(first.body.queuedStart.id);
      expect(stored).toMatchObject({ status: "started", instanceId: admitted.body.instance.id });
      expect(await counts()).toMatchObject({
        queued: before.queued + 3,
        instances: before.instances + 3,
      });
    });

    test("the same start sent at once many times is queued once, and each answer names that queued start", async () => {
      const before = await counts();
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(order("C-1"))));
      expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202, 202]);
      expect(new Set(answers.map((a) => a.body.queuedStart.id)).size).toBe(1);
      expect((await counts()).queued).toBe(before.queued + 1);
      await queueClock.advance(1_000);
      expect((await queue.admit()).started).toBe(1);
    });

    test("a queued start that expires is never started, stays expired, and its client hears start.expired through the outbox", async () => {
      const queued = await post(order("X-1"));
      expect(queued.status).toBe(202);
      const { id, enqueuedAt, expiresAt } = queued.body.queuedStart;
      await queueClock.advance(61_000);
      const round = await queue.admit();
      expect(round.expired.map((start) => start.businessKey)).toEqual(["X-1"]);
      expect(
        await engine.findInstance({ channel: "shop", behavior: "order", businessKey: "X-1" }),
      ).toBeUndefined();

      // Its fate, read or started again: expired, and no second queue entry.
      const before = await counts();
      const fate = await read("X-1");
      expect(fate.status).toBe(200);
      expect(fate.body.queuedStart).toMatchObject({ id, status: "expired" });
      const again = await post(order("X-1"));
      expect(again.status).toBe(200);
      expect(again.body.queuedStart).toMatchObject({ id, status: "expired" });
      await queue.admit();
      expect(await counts()).toMatchObject({
        queued: before.queued,
        instances: before.instances,
        outbox: before.outbox,
      });

      await dispatcher.deliverDue();
      const delivered = receiver.received.filter((r) => r.eventId === `${id}.start.expired`);
      expect(delivered).toHaveLength(1);
      expect(delivered[0]!.path).toBe("/platform");
      expect(delivered[0]!.body).toEqual({
        id: `${id}.start.expired`,
        type: "start.expired",
        occurredAt: new Date(queueClock.now()).toISOString(),
        start: {
          id,
          channel: "shop",
          behavior: "order",
          businessKey: "X-1",
          enqueuedAt,
          expiresAt,
          attempts: 0,
        },
        error: null,
      });
    });

    test("a business key holding a NUL character is refused with 400, queued or read", async () => {
      const before = await counts();
      const queued = await post(order("N-1\u0000"));
      expect({ status: queued.status, code: queued.body?.error?.code }).toEqual({
        status: 400,
        code: "INSTANCE_INPUT_INVALID",
      });
      expect(queued.body.error.message).toMatch(/^the field businessKey holds a NUL character/);
      const read_ = await read("N-1%00");
      expect({ status: read_.status, code: read_.body?.error?.code }).toEqual({
        status: 400,
        code: "INSTANCE_INPUT_INVALID",
      });
      // The field that holds it, not every field it could be in.
      expect(read_.body.error.message).toMatch(/^the business key holds a NUL character/);
      expect(read_.body.error.message).not.toMatch(/channel|behavior/);
      expect((await counts()).queued).toBe(before.queued);
    });

    test("refused requests to a queued behavior store nothing", async () => {
      const before = await counts();
      const replayed = signed("POST", "/v1/instances", order("R-1"));
      expect((await send("POST", "/v1/instances", replayed.headers, replayed.body)).status).toBe(
        202,
      );
      const afterFirst = await counts();
      expect(afterFirst.queued).toBe(before.queued + 1);
      const doorRefusals: [string, Promise<Sent>, number, string][] = [
        ["forged signature", post(order("F-1"), { tamper: true }), 401, "AUTH_REQUIRED"],
        [
          "replayed request",
          send("POST", "/v1/instances", replayed.headers, replayed.body),
          401,
          "AUTH_REQUIRED",
        ],
        [
          "oversized body",
          post(order("F-2", { mobile: "13800138000", amount: 1, pad: "x".repeat(4096) })),
          413,
          "REQUEST_TOO_LARGE",
        ],
        [
          "malformed JSON",
          (async () => {
            const request = signed("POST", "/v1/instances", order("F-3"));
            return send("POST", "/v1/instances", request.headers, Buffer.from('{"channel":'));
          })(),
          400,
          "REQUEST_INVALID",
        ],
      ];
      for (const [what, pending, status, code] of doorRefusals) {
        const answer = await pending;
        expect({ what, status: answer.status, code: answer.body?.error?.code }).toEqual({
          what,
          status,
          code,
        });
      }
      expect(await counts()).toEqual(afterFirst);

      // Past the door, refused by the body's checks: no queued start, no instance, the key free.
      const bodyRefusals: [string, unknown, number, string][] = [
        [
          "input its schema refuses",
          order("F-4", { mobile: "12", amount: "100" }),
          400,
          "INSTANCE_INPUT_INVALID",
        ],
        ["unknown field", { ...order("F-5"), priority: 1 }, 400, "REQUEST_INVALID"],
        ["no business key", { ...order("F-6"), businessKey: "" }, 400, "REQUEST_INVALID"],
      ];
      for (const [what, body, status, code] of bodyRefusals) {
        const answer = await post(body, { idempotencyKey: `key-${what.replaceAll(" ", "-")}` });
        expect({ what, status: answer.status, code: answer.body?.error?.code }).toEqual({
          what,
          status,
          code,
        });
      }
      const after = await counts();
      expect({ queued: after.queued, instances: after.instances, keys: after.keys }).toEqual({
        queued: afterFirst.queued,
        instances: afterFirst.instances,
        keys: afterFirst.keys,
      });
    });
  },
);
