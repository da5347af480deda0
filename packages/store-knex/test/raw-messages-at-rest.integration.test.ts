import { randomBytes, randomUUID } from "node:crypto";
import {
  type ChannelDefinition,
  Engine,
  InProcessLockProvider,
  ManualClock,
  MemoryDefinitionSource,
  ProcessorRegistry,
  RawMessageKeyring,
} from "@capflow/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loanBehavior, testChannel } from "../../core/test/support/loan-definitions.ts";
import { ScriptedTransport } from "../../core/test/support/scripted-transport.ts";
import { type CapflowDatabase, KnexInstanceStore, resealRawMessages } from "../src/index.ts";
import { qualifiedNames } from "../src/sql-names.ts";
import {
  databaseUrl,
  openTestPglite,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const idCard = "110101199003071234";
const mobile = "13812345678";

/** A channel whose notifications are kept as received (`keepRawBody`). */
const channel: ChannelDefinition = {
  ...structuredClone(testChannel),
  callbacks: {
    "loan.result": {
      ...structuredClone(testChannel.callbacks!["loan.result"]!),
      keepRawBody: true,
    },
  },
};

/**
 * Messages kept as sent and received reach the database only encrypted: the `raw` columns of
 * step logs and the inbox hold a sealed value naming its key, never the personal data in them;
 * after a key rotation, new rows use the new key and older rows still open, until a reseal moves
 * them (and any kept in clear by an earlier version) to the new key.
 */
function rawAtRestSuite(
  open: () => Promise<CapflowDatabase>,
  close: (db: CapflowDatabase) => Promise<void>,
) {
  let db: CapflowDatabase;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(async () => {
    await close(db);
  });

  test("step logs and the inbox store ciphertext only; it opens with the key, also after rotation", async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 2, 0, 0));
    const transport = new ScriptedTransport().script("/loan/apply", {
      body: { status: "ACCEPTED", applyNo: "A-1", holder: "张三" },
    });
    const engineWith = (rawMessageKeys: RawMessageKeyring) =>
      new Engine({
        store: new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target }),
        definitions: new MemoryDefinitionSource({
          channels: [channel],
          behaviors: [loanBehavior()],
        }),
        processors: new ProcessorRegistry(),
        transport,
        clock,
        locks: new InProcessLockProvider({ clock }),
        keepRawMessages: true,
        rawMessageKeys,
      });
    const before = engineWith(new RawMessageKeyring({ current: "k1", keys: { k1 } }));
    const { id } = await before.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "L-RAW-1",
      input: { loanNo: "L-RAW-1", amount: 100000, idCardNo: idCard },
    });
    await before.runDue();
    const notify = (engine: Engine, loanNo: string, notifyId: string) =>
      engine.receiveCallback("lanbank", "loan.result", {
        method: "POST",
        path: "/callbacks/lanbank/loan.result",
        headers: { "content-type": "application/json" },
        body: Buffer.from(JSON.stringify({ loanNo, notifyId, status: "SUCCESS", mobile })),
      });
    expect((await notify(before, "L-RAW-1", "N-1")).accepted).toBe(true);

    // Rotated: k2 seals from now on, k1 stays configured to read what it sealed.
    const rotated = RawMessageKeyring.parse(
      `k2=${k2.toString("base64")}\nk1=${k1.toString("base64")}`,
    );
    const after = engineWith(rotated);
    expect((await notify(after, "L-RAW-2", "N-2")).accepted).toBe(true);

    const t = qualifiedNames(db.schema);
    const stored = async (sql: string) =>
      ((await db.knex.raw(sql)) as { rows: { raw: string; key_id: string }[] }).rows;
    const logs = await stored(
      `SELECT raw::text AS raw, raw->>'keyId' AS key_id FROM ${t.stepLogs} WHERE raw IS NOT NULL`,
    );
    const inbox = await stored(
      `SELECT raw::text AS raw, raw->>'keyId' AS key_id FROM ${t.inbox} ORDER BY received_at, dedupe_key`,
    );
    expect(logs.map((row) => row.key_id)).toEqual(["k1"]);
    expect(inbox.map((row) => row.key_id)).toEqual(["k1", "k2"]);
    for (const row of [...logs, ...inbox]) {
      for (const plain of [idCard, mobile, "张三", "\\u5f20", "A-1", "L-RAW", "SUCCESS"])
        expect(row.raw).not.toContain(plain);
    }

    const [kept] = (await after.history(id)).filter((entry) => entry.raw !== undefined);
    const exchange = rotated.open(kept!.raw!, "step-log");
    expect(exchange.request).toContain(idCard);
    expect(exchange.response).toContain("张三");
    const pending = [
      ...(await db.instances.pendingInbox({ channel: "lanbank", businessKey: "L-RAW-1" })),
      ...(await db.instances.pendingInbox({ channel: "lanbank", businessKey: "L-RAW-2" })),
    ];
    expect(pending.map((entry) => rotated.open(entry.raw!, "inbox").body)).toEqual([
      expect.stringContaining(mobile),
      expect.stringContaining("N-2"),
    ]);
    // Retiring k1 too early leaves its rows unreadable, with a typed error saying which key.
    const retired = new RawMessageKeyring({ current: "k2", keys: { k2 } });
    expect(() => retired.open(kept!.raw!, "step-log")).toThrow(
      expect.objectContaining({ code: "RAW_MESSAGE_KEY_UNKNOWN" }),
    );

    // A notification an earlier version kept in clear, and one altered in the database.
    const clear = { body: JSON.stringify({ loanNo: "L-OLD", mobile }) };
    await db.instances.insertInbox({
      id: randomUUID(),
      channel: "lanbank",
      callback: "loan.result",
      dedupeKey: "N-old",
      businessKey: "L-OLD",
      payload: {},
      raw: clear as never,
      receivedAt: clock.now(),
    });
    const altered = randomUUID();
    await db.instances.insertInbox({
      id: altered,
      channel: "lanbank",
      callback: "loan.result",
      dedupeKey: "N-altered",
      businessKey: "L-ALTERED",
      payload: {},
      raw: {
        ...new RawMessageKeyring({ current: "k1", keys: { k1 } }).seal({ body: "x" }, "inbox"),
        tag: Buffer.alloc(16).toString("base64"),
      },
      receivedAt: clock.now(),
    });
    const reseal = {
      currentKeyId: rotated.currentKeyId,
      reseal: rotated.reseal.bind(rotated),
      batchSize: 1,
    };
    const report = await resealRawMessages(db, reseal);
    expect(report).toEqual({
      stepLogs: 1,
      inbox: 2,
      unreadable: [
        expect.objectContaining({ kind: "inbox", id: altered, code: "RAW_MESSAGE_DECRYPT_FAILED" }),
      ],
    });
    const resealedRows = await stored(
      `SELECT raw::text AS raw, raw->>'keyId' AS key_id FROM ${t.inbox} ORDER BY received_at, dedupe_key`,
    );
    // N-1 moved to k2, N-2 was under it, N-altered left as it was, N-old sealed.
    expect(resealedRows.map((row) => row.key_id)).toEqual(["k2", "k2", "k1", "k2"]);
    for (const row of resealedRows) expect(row.raw).not.toContain(mobile);
    // Now k1 can go: everything readable opens with k2 alone.
    const [resealed] = (await after.history(id)).filter((entry) => entry.raw !== undefined);
    expect(retired.open(resealed!.raw!, "step-log").request).toContain(idCard);
    const old = await db.instances.pendingInbox({ channel: "lanbank", businessKey: "L-OLD" });
    expect(retired.open(old[0]!.raw!, "inbox")).toEqual(clear);
    expect(await resealRawMessages(db, reseal)).toMatchObject({ stepLogs: 0, inbox: 0 });
  });
}

describe("raw messages at rest on PGlite", () => {
  rawAtRestSuite(
    () => openTestPglite(),
    async (db) => {
      await truncateRuntimeTables(db);
      await db.close();
    },
  );
});

describe.skipIf(!databaseUrl)(
  databaseUrl ? "raw messages at rest on PostgreSQL" : skipMessage,
  () => {
    rawAtRestSuite(
      () => openTestPostgres(),
      (db) => (db as Awaited<ReturnType<typeof openTestPostgres>>).drop(),
    );
  },
);
