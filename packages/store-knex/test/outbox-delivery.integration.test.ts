import { type ChildProcess, fork } from "node:child_process";
import {
  createHmac,
  generateKeyPairSync,
  randomUUID,
  timingSafeEqual,
  verify as verifySignature,
} from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createDefaultSecretResolver,
  createNotificationSigner,
  type InstanceRecord,
  isCapflowError,
  ManualClock,
  type NewNotification,
  type NotificationSigner,
  notificationHeaders,
  notificationTargets,
  OutboxDispatcher,
  type OutboxEvent,
} from "@capflow/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import type { KnexInstanceStore } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const here = dirname(fileURLToPath(import.meta.url));
const secret = "receiver-shared-secret-0123456789";

/** How the receiver treats one request: acknowledge, refuse, never answer, drop the connection. */
type Behaviour = "ok" | "500" | "hang" | "reset" | "process-then-hang";

interface Received {
  eventId: string;
  attempt: string | undefined;
  verified: boolean;
  body: unknown;
}

/**
 * An upstream receiver on loopback as the docs tell receivers to write one: verify the signature,
 * deduplicate on the event id (process each event once, acknowledge duplicates), answer 2xx.
 * Its behaviours are scripted request by request (the last one repeats).
 */
class Receiver {
  readonly received: Received[] = [];
  /** Event id -> times the receiver's own business processed it (must stay 1). */
  readonly processed = new Map<string, number>();
  readonly #script: Behaviour[] = [];
  readonly #server: Server;
  readonly verify: (content: Buffer, signature: Buffer) => boolean;
  heldRequest: Promise<void>;
  #held!: () => void;

  constructor(verify: (content: Buffer, signature: Buffer) => boolean) {
    this.verify = verify;
    this.heldRequest = new Promise((resolve) => (this.#held = resolve));
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  script(...behaviours: Behaviour[]): this {
    this.#script.splice(0, this.#script.length, ...behaviours);
    return this;
  }

  async listen(): Promise<string> {
    this.#server.listen(0, "127.0.0.1");
    await once(this.#server, "listening");
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/notify?token=abc`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const eventId = String(request.headers[notificationHeaders.eventId]);
    const timestamp = String(request.headers[notificationHeaders.timestamp]);
    const signature = Buffer.from(String(request.headers[notificationHeaders.signature]), "base64");
    const verified = this.verify(Buffer.from(`${timestamp}.${eventId}.${text}`), signature);
    this.received.push({
      eventId,
      attempt: request.headers[notificationHeaders.attempt] as string | undefined,
      verified,
      body: JSON.parse(text),
    });
    const behaviour =
      this.#script.length > 1 ? this.#script.shift()! : (this.#script[0] ?? ("ok" as const));
    if (behaviour === "reset") {
      request.socket.destroy();
      return;
    }
    if (behaviour === "hang") return;
    if (behaviour === "500") {
      response.writeHead(500).end("busy");
      return;
    }
    if (!verified) {
      response.writeHead(401).end();
      return;
    }
    // Deduplicate on the event id: a repeat is acknowledged, not processed again.
    if (!this.processed.has(eventId)) this.processed.set(eventId, 1);
    if (behaviour === "process-then-hang") {
      this.#held();
      return;
    }
    response.writeHead(204).end();
  }
}

function hmacVerifier(content: Buffer, signature: Buffer): boolean {
  const expected = createHmac("sha256", secret).update(content).digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

describe.skipIf(!databaseUrl)(databaseUrl ? "outbox delivery on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  let store: KnexInstanceStore;
  let signer: NotificationSigner;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    db = await openTestPostgres();
    store = db.instances;
    signer = await createNotificationSigner(
      { algorithm: "hmac-sha256", secret: { ref: "env:OUTBOX_SECRET" } },
      { secrets: createDefaultSecretResolver({ env: { OUTBOX_SECRET: secret } }) },
    );
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await truncateRuntimeTables(db);
  });
  afterAll(async () => {
    await db.drop();
  });

  async function receiver(verify = hmacVerifier): Promise<{ receiver: Receiver; url: string }> {
    const r = new Receiver(verify);
    const url = await r.listen();
    cleanups.push(() => r.close());
    return { receiver: r, url };
  }

  function dispatcher(
    url: string,
    options: Partial<ConstructorParameters<typeof OutboxDispatcher>[0]> = {},
  ): OutboxDispatcher {
    const d = new OutboxDispatcher({
      store,
      targets: notificationTargets({ fallback: url }),
      signer,
      timeoutMs: 500,
      leaseMs: 5_000,
      ...options,
    });
    cleanups.push(() => d.close());
    return d;
  }

  /** An instance settled with its notification, committed at `now`. */
  async function settled(
    now: number,
  ): Promise<{ instance: InstanceRecord; note: NewNotification }> {
    const { instance } = await store.createInstance({
      id: randomUUID(),
      channel: "lanbank",
      behavior: "loan",
      businessKey: `L-${randomUUID()}`,
      behaviorVersion: 1,
      inputDigest: "d",
      input: {},
      step: "apply",
      status: "active",
      context: {},
      snapshot: null,
      nextRunAt: now,
      now,
    });
    const id = `evt-${randomUUID()}`;
    const note: NewNotification = {
      id,
      instanceId: instance.id,
      type: "instance.succeeded",
      payload: {
        id,
        type: "instance.succeeded",
        occurredAt: new Date(now).toISOString(),
        instance: {
          id: instance.id,
          channel: "lanbank",
          behavior: "loan",
          businessKey: instance.businessKey,
          product: null,
          status: "succeeded",
          step: "done",
          version: 2,
        },
        result: { apply: { loanNo: "LN-1" } },
        error: null,
      },
      target: null,
      createdAt: now,
      nextAttemptAt: now,
    };
    await store.commitTransition({
      instanceId: instance.id,
      expectedVersion: instance.version,
      now,
      changes: { step: "done", status: "succeeded", nextRunAt: null },
      log: { step: "apply", attempt: 1, event: "transition", startedAt: now, durationMs: 0 },
      notification: note,
    });
    return { instance, note };
  }

  test("delivered once through a 500, a timeout and a reset, signed the same way each time", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    r.script("500", "hang", "reset", "ok");
    const events: OutboxEvent[] = [];
    const d = dispatcher(url, { clock, onEvent: (e) => events.push(e) });
    const { note } = await settled(clock.now());

    // The schedule: at once, then 15 s, 15 s, 30 s after each failure.
    for (const wait of [0, 15_000, 15_000, 30_000]) {
      await clock.advance(wait - 1);
      if (wait > 0) expect(await d.deliverDue()).toBe(0);
      await clock.advance(1);
      expect(await d.deliverDue()).toBe(1);
    }
    await clock.advance(3_600_000);
    expect(await d.deliverDue()).toBe(0);

    expect(r.received.map((q) => [q.eventId, q.attempt, q.verified])).toEqual([
      [note.id, "1", true],
      [note.id, "2", true],
      [note.id, "3", true],
      [note.id, "4", true],
    ]);
    expect(r.received[0]?.body).toEqual(note.payload);
    expect([...r.processed]).toEqual([[note.id, 1]]);
    const stored = await store.getNotification(note.id);
    expect(stored).toMatchObject({ status: "delivered", attempts: 4, nextAttemptAt: null });
    expect(stored?.lastError?.message).toBe("the connection was lost before the receiver answered");
    expect(events.map((e) => [e.type, "code" in e ? e.code : e.httpStatus])).toEqual([
      ["notification.failed", "NOTIFICATION_DELIVERY_FAILED"],
      ["notification.failed", "NOTIFICATION_DELIVERY_FAILED"],
      ["notification.failed", "NOTIFICATION_DELIVERY_FAILED"],
      ["notification.delivered", 204],
    ]);
    // The target's query (a token, say) never reaches errors or logs.
    expect(JSON.stringify(events) + JSON.stringify(stored)).not.toContain("token");
  });

  test("after the last attempt it fails, stays listed, and an operator's re-send delivers it", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    r.script("500", "500", "ok");
    const d = dispatcher(url, { clock, retrySchedule: [0, 10] });
    const { note } = await settled(clock.now());
    await d.deliverDue();
    await clock.advance(10_000);
    await d.deliverDue();
    expect(await store.getNotification(note.id)).toMatchObject({
      status: "failed",
      attempts: 2,
      lastError: {
        code: "NOTIFICATION_DELIVERY_FAILED",
        message: "the receiver answered 500, not 2xx",
      },
    });
    expect(await store.listNotifications({ status: ["failed"] })).toHaveLength(1);
    await clock.advance(86_400_000);
    expect(await d.deliverDue()).toBe(0);

    await store.resendNotification({
      id: note.id,
      now: clock.now(),
      by: "ops:alice",
      why: "the receiver is back",
    });
    expect(await d.deliverDue()).toBe(1);
    expect(await store.getNotification(note.id)).toMatchObject({
      status: "delivered",
      attempts: 1,
      resent: { by: "ops:alice" },
    });
    expect(r.received.map((q) => q.eventId)).toEqual([note.id, note.id, note.id]);
  });

  test("a re-send that waited for another operator's re-send of the same notification answers with the notification as that one left it", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    r.script("500");
    const d = dispatcher(url, { clock, retrySchedule: [0] });
    const { note } = await settled(clock.now());
    await d.deliverDue();
    expect(await store.getNotification(note.id)).toMatchObject({ status: "failed" });
    // Operator A's re-send holds the row, not yet committed, while operator B's arrives.
    const first = await db.knex.transaction();
    let second: ReturnType<typeof store.resendNotification> | undefined;
    try {
      await first.raw(
        `UPDATE "${db.schema}".outbox SET status = 'pending', attempts = 0, resent_by = 'ops:a',
           resent_at = now(), resent_reason = 'the receiver is back' WHERE id = ?`,
        [note.id],
      );
      second = store.resendNotification({
        id: note.id,
        now: clock.now(),
        by: "ops:b",
        why: "the receiver is back",
      });
      await expect
        .poll(async () => {
          const { rows } = await db.knex.raw(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
               AND datname = current_database() AND query LIKE '%resent_by%'`,
          );
          return rows.length > 0;
        })
        .toBe(true);
      await first.commit();
    } finally {
      if (!first.isCompleted()) await first.rollback();
    }
    const answer = await second;
    expect(answer?.outcome).toBe("awaitingFirstAttempt");
    expect(answer?.notification).toMatchObject({
      status: "pending",
      attempts: 0,
      resent: { by: "ops:a" },
    });
  });

  test("a dispatcher killed mid-delivery: the lease expires, another delivers again, the receiver dedupes", async () => {
    const { receiver: r, url } = await receiver();
    r.script("process-then-hang", "ok");
    const { note } = await settled(Date.now());
    const leaseMs = 2_000;
    const child: ChildProcess = fork(join(here, "fixtures", "outbox-dispatcher-process.ts"), [], {
      cwd: join(here, "..", "..", ".."),
      execArgv: ["--import", "tsx", "--conditions=@capflow/source"],
      env: {
        ...process.env,
        SCHEMA: db.schema,
        TARGET: url,
        OUTBOX_SECRET: secret,
        LEASE_MS: String(leaseMs),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    await r.heldRequest;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    expect(await store.getNotification(note.id)).toMatchObject({
      status: "pending",
      attempts: 1,
      leaseOwner: "doomed",
    });

    const d = dispatcher(url, { leaseMs, timeoutMs: 1_000 });
    // Nothing until the dead dispatcher's lease runs out; then delivered again.
    await expect
      .poll(
        async () => {
          await d.deliverDue();
          return r.received.length;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(2);
    expect(await store.getNotification(note.id)).toMatchObject({
      status: "delivered",
      attempts: 2,
    });
    expect(r.received.map((q) => q.eventId)).toEqual([note.id, note.id]);
    expect([...r.processed]).toEqual([[note.id, 1]]);
  }, 30_000);

  test("many notifications, a flaky receiver and three dispatchers: each event processed once", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    r.script("500", "ok", "reset", "ok", "hang", "ok", "ok", "500", "ok");
    const notes = [];
    for (let i = 0; i < 20; i++) notes.push((await settled(clock.now())).note);
    const dispatchers = [1, 2, 3].map((n) =>
      dispatcher(url, { clock, owner: `d${n}`, batchSize: 4, retrySchedule: [0, 1, 1, 1, 1, 1] }),
    );
    for (let round = 0; round < 12; round++) {
      await Promise.all(dispatchers.map((d) => d.deliverDue()));
      await clock.advance(1_000);
    }
    const stored = await store.listNotifications({});
    expect(stored.map((n) => n.status)).toEqual(stored.map(() => "delivered"));
    expect(new Set(r.processed.keys())).toEqual(new Set(notes.map((n) => n.id)));
    expect([...r.processed.values()].every((count) => count === 1)).toBe(true);
    expect(r.received.every((q) => q.verified)).toBe(true);
  });

  test("a change that loses its compare-and-set is never notified", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    const { instance, note } = await settled(clock.now());
    const stale = { ...note, id: `evt-${randomUUID()}` };
    const lost = await store
      .commitTransition({
        instanceId: instance.id,
        expectedVersion: instance.version,
        now: clock.now(),
        changes: { status: "failed" },
        log: { step: "apply", attempt: 1, event: "transition", startedAt: 0, durationMs: 0 },
        notification: stale,
      })
      .catch((e: unknown) => e);
    expect(isCapflowError(lost, "STORE_CONFLICT")).toBe(true);
    await dispatcher(url, { clock }).deliverDue();
    expect(r.received.map((q) => q.eventId)).toEqual([note.id]);
  });

  test("rows stored with the operators' text (before the public form, or by an older node) go out in public form, re-sends too", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2));
    const { receiver: r, url } = await receiver();
    const at = new Date(clock.now());
    const operatorsText = {
      code: "TRANSPORT_NOT_SENT",
      message:
        "connect ECONNREFUSED https://api.funder.example:8443/v2/loans (key /etc/capflow/keys/funder.pem)",
    };
    const old = (id: string, status: string, payload: Record<string, unknown>) =>
      db.knex.raw(
        `INSERT INTO "${db.schema}".outbox (id, instance_id, type, payload, status, next_attempt_at, created_at)
         VALUES (?, 'i-old', ?, ?, ?, ?, ?)`,
        [
          id,
          String(payload.type),
          JSON.stringify(payload),
          status,
          status === "pending" ? at : null,
          at,
        ],
      );
    const instancePayload = (id: string) => ({
      id,
      type: "instance.failed",
      occurredAt: at.toISOString(),
      instance: {
        id: "i-old",
        channel: "lanbank",
        behavior: "loan",
        businessKey: "L-old",
        product: null,
        status: "failed",
        step: "apply",
        version: 3,
      },
      result: null,
      error: operatorsText,
    });
    await old("evt-old-pending", "pending", instancePayload("evt-old-pending"));
    await old("evt-old-failed", "failed", instancePayload("evt-old-failed"));
    await old("evt-old-start", "pending", {
      id: "evt-old-start",
      type: "start.gave-up",
      occurredAt: at.toISOString(),
      start: { id: "s-old", channel: "lanbank", behavior: "loan", businessKey: "L-q" },
      error: { ...operatorsText, context: { url: "https://api.funder.example:8443" } },
    });
    const d = dispatcher(url, { clock });
    expect(await d.deliverDue()).toBe(2);
    await store.resendNotification({
      id: "evt-old-failed",
      now: clock.now(),
      by: "ops:alice",
      why: "the receiver is back",
    });
    expect(await d.deliverDue()).toBe(1);

    const publicForm = {
      code: "TRANSPORT_NOT_SENT",
      retryable: true,
      message: "the funder's interface could not be reached; the request was not sent",
    };
    const byId = new Map(r.received.map((q) => [q.eventId, q]));
    expect([...byId.keys()].sort()).toEqual(["evt-old-failed", "evt-old-pending", "evt-old-start"]);
    for (const [eventId, q] of byId) {
      // The event id is the stored one, in the header and the body; the signature covers the body sent.
      expect(q.verified).toBe(true);
      expect(q.body).toMatchObject({ id: eventId, error: publicForm });
      expect((q.body as { error: object }).error).toEqual(publicForm);
      expect(JSON.stringify(q.body)).not.toMatch(/funder\.example|\.pem|ECONNREFUSED/);
    }
    expect(byId.get("evt-old-pending")?.body).toMatchObject({
      type: "instance.failed",
      instance: { id: "i-old", businessKey: "L-old", version: 3 },
    });
  });

  test("a body already in public form goes out as written", async () => {
    const { receiver: r, url } = await receiver();
    const { note } = await settled(Date.now());
    await dispatcher(url).deliverDue();
    expect(r.received[0]?.body).toEqual(note.payload);
  });

  test("RSA-signed notifications verify with capflow's public key", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const rsa = await createNotificationSigner(
      { algorithm: "rsa-sha256", privateKey: { ref: "env:CAPFLOW_NOTIFY_KEY", id: "k1" } },
      { secrets: createDefaultSecretResolver({ env: { CAPFLOW_NOTIFY_KEY: pem } }) },
    );
    const { receiver: r, url } = await receiver((content, signature) =>
      verifySignature("sha256", content, publicKey, signature),
    );
    const { note } = await settled(Date.now());
    await dispatcher(url, { signer: rsa }).deliverDue();
    expect(r.received).toMatchObject([{ eventId: note.id, verified: true }]);
    expect((await store.getNotification(note.id))?.status).toBe("delivered");
  });
});
