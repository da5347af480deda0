import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);

/**
 * A notification kept as received (`keepRawBody`) round-trips through its own column, bytes
 * intact; entries of other callbacks have none.
 */
describe.skipIf(!databaseUrl)(
  databaseUrl ? "raw notifications in the PostgreSQL inbox" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });

    test("kept in the raw column when given, absent otherwise", async () => {
      const bytes = Buffer.from([0x3c, 0x61, 0x3e, 0xb7, 0xc5, 0xbf, 0xee, 0x3c, 0x2f, 0x61, 0x3e]);
      const raw = { body: "<a>放款</a>", bytes: bytes.toString("base64") };
      const kept = await db.instances.insertInbox({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-raw",
        businessKey: "L-raw",
        payload: { status: "SUCCESS" },
        raw,
        receivedAt: t0,
      });
      expect(kept.entry.raw).toEqual(raw);
      await db.instances.insertInbox({
        id: randomUUID(),
        channel: "lanbank",
        callback: "loan.result",
        dedupeKey: "N-plain",
        businessKey: "L-raw",
        payload: { status: "SUCCESS" },
        receivedAt: t0 + 1,
      });
      const pending = await db.instances.pendingInbox({ channel: "lanbank", businessKey: "L-raw" });
      expect(pending.map((entry) => entry.dedupeKey)).toEqual(["N-raw", "N-plain"]);
      expect(Buffer.from(pending[0]?.raw?.bytes ?? "", "base64").equals(bytes)).toBe(true);
      expect(pending[1]).not.toHaveProperty("raw");
      const stored = await db.knex.raw(
        `SELECT raw FROM "${db.schema}".inbox WHERE dedupe_key = 'N-plain'`,
      );
      expect(stored.rows[0].raw).toBeNull();
    });
  },
);
