import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { issueOperatorToken, revokeOperatorToken } from "../src/index.ts";
import {
  databaseUrl,
  opsClient,
  startTestServer,
  type TestServer,
  tokensByRole,
} from "./support/test-server.ts";

describe.skipIf(!databaseUrl)(
  "operator tokens note when they were last used, at most once a minute",
  () => {
    let server: TestServer;
    let admin: string;
    let ops: ReturnType<typeof opsClient>;
    const logLines: string[] = [];

    beforeAll(async () => {
      server = await startTestServer({
        log: { level: "info", stream: { write: (line: string) => logLines.push(line) } },
      });
      admin = (await tokensByRole(server.db)).admin;
      ops = opsClient(server.url);
    });
    afterAll(async () => {
      await server?.close();
    });

    const table = () => `"${server.db.schema}".operator_tokens`;
    const make = async (name: string) =>
      issueOperatorToken(server.db.operatorTokens, {
        name,
        role: "viewer",
        reason: "last-used tests",
      });
    const lastUsed = async (id: string): Promise<Date | null> => {
      const result = await server.db.knex.raw(`SELECT last_used_at FROM ${table()} WHERE id = ?`, [
        id,
      ]);
      return result.rows[0].last_used_at;
    };
    /** The write does not hold the answer back: wait for it to land. */
    const eventually = async (id: string): Promise<Date> => {
      for (let i = 0; i < 100; i++) {
        const at = await lastUsed(id);
        if (at !== null) return at;
        await sleep(20);
      }
      throw new Error(`last_used_at of ${id} never written`);
    };

    test("a request notes the time; the listing shows it; a second request within the minute writes nothing", async () => {
      const { token, record } = await make("fresh");
      expect(await lastUsed(record.id)).toBeNull();
      const before = Date.now();
      expect((await ops("GET", "/whoami", { token })).status).toBe(200);
      const first = await eventually(record.id);
      expect(first.getTime()).toBeGreaterThanOrEqual(before - 5_000);

      const listed = (await ops("GET", "/tokens", { token: admin })).json.items.find(
        (t: { id: string }) => t.id === record.id,
      );
      expect(listed.lastUsedAt).toBe(first.toISOString());

      // Set back two minutes: the store would take a new time, so only not asking keeps it.
      const earlier = new Date(first.getTime() - 120_000);
      await server.db.knex.raw(`UPDATE ${table()} SET last_used_at = ? WHERE id = ?`, [
        earlier,
        record.id,
      ]);
      for (let i = 0; i < 5; i++) {
        expect((await ops("GET", "/whoami", { token })).status).toBe(200);
      }
      await sleep(200);
      expect(await lastUsed(record.id)).toEqual(earlier);
    });

    test("the store writes once a minute whoever asks, and never for a revoked or unknown token", async () => {
      const tokens = server.db.operatorTokens;
      const { record } = await make("shared");
      expect(await tokens.recordTokenUse(record.id)).toBe(true);
      const first = await lastUsed(record.id);
      expect(await tokens.recordTokenUse(record.id)).toBe(false);
      expect(await lastUsed(record.id)).toEqual(first);
      await server.db.knex.raw(
        `UPDATE ${table()} SET last_used_at = last_used_at - interval '61 seconds' WHERE id = ?`,
        [record.id],
      );
      expect(await tokens.recordTokenUse(record.id)).toBe(true);

      await revokeOperatorToken(tokens, { idOrName: record.id, by: null, reason: "rotated" });
      await server.db.knex.raw(`UPDATE ${table()} SET last_used_at = NULL WHERE id = ?`, [
        record.id,
      ]);
      expect(await tokens.recordTokenUse(record.id)).toBe(false);
      expect(await lastUsed(record.id)).toBeNull();
      expect(await tokens.recordTokenUse("tok_unknown")).toBe(false);
    });

    test("a revoked token's request is refused and notes nothing", async () => {
      const { token, record } = await make("revoked-unused");
      await revokeOperatorToken(server.db.operatorTokens, {
        idOrName: record.id,
        by: null,
        reason: "left the team",
      });
      expect((await ops("GET", "/whoami", { token })).status).toBe(401);
      await sleep(200);
      expect(await lastUsed(record.id)).toBeNull();
    });

    test("a write held up by a lock does not hold the request up", async () => {
      const { token, record } = await make("locked");
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = server.db.knex.transaction(async (trx) => {
        // Reads go on (authentication); updates wait.
        await trx.raw(`LOCK TABLE ${table()} IN SHARE MODE`);
        locked();
        await released;
      });
      await isLocked;
      try {
        const started = Date.now();
        const answer = await ops("GET", "/whoami", { token });
        expect(answer.status).toBe(200);
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(await lastUsed(record.id)).toBeNull();
      } finally {
        release();
        await holder;
      }
      await eventually(record.id);
    });

    test("a write that fails is logged and the request still answers", async () => {
      const { token, record } = await make("failing");
      const schema = `"${server.db.schema}"`;
      await server.db.knex.raw(
        `CREATE FUNCTION ${schema}.refuse_last_used() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'last_used_at refused for this test'; END $$`,
      );
      await server.db.knex.raw(
        `CREATE TRIGGER refuse_last_used BEFORE UPDATE OF last_used_at ON ${table()}
         FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_last_used()`,
      );
      try {
        const answer = await ops("GET", "/whoami", { token });
        expect(answer.status).toBe(200);
        expect(answer.json.operator.name).toBe("failing");
        for (let i = 0; i < 100 && !logLines.join("").includes("last use"); i++) await sleep(20);
        const warning = logLines.find((line) => line.includes("last use"));
        expect(warning).toBeDefined();
        expect(JSON.parse(warning!)).toMatchObject({ level: 40, tokenId: record.id });
        expect(warning).not.toContain(token);
        expect(await lastUsed(record.id)).toBeNull();
      } finally {
        await server.db.knex.raw(`DROP TRIGGER refuse_last_used ON ${table()}`);
      }
    });
  },
);
