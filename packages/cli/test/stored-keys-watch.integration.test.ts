import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ChannelDefinition,
  createCryptoHandlerRegistry,
  type DefinitionSource,
  type UpstreamClientDefinition,
} from "@capflow/core";
import { openPostgresStore, pushDefinitions } from "@capflow/store-knex";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openTestPostgres, uniqueSchema } from "../../store-knex/test/support/databases.ts";
import type { KeyFailure } from "../src/stored-keys-check.ts";
import { lockBoundedRounds } from "../src/stored-keys-rounds.ts";
import { type StoredKeysReport, StoredKeysWatch } from "../src/stored-keys-watch.ts";
import { repositoryRoot } from "./support/run-capflow.ts";

const databaseUrl = process.env.DATABASE_URL;

/** What a watch said, in order. */
function recordingReport(): StoredKeysReport & { said: string[] } {
  const said: string[] = [];
  return {
    said,
    failing: (failure: KeyFailure) => said.push(`failing ${failure.what} ${failure.code}`),
    note: (_what, message) => said.push(message),
    error: (error) => said.push(`error ${String(error)}`),
  };
}

describe.skipIf(!databaseUrl)(
  databaseUrl
    ? "StoredKeysWatch (PostgreSQL)"
    : "StoredKeysWatch: skipped, set DATABASE_URL to run",
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    let dir: string;
    let meadow: ChannelDefinition;
    const channel = (code: string) => {
      const copy = structuredClone(meadow) as ChannelDefinition & {
        crypto: { options: { keys: { secret: { ref: string } } } };
      };
      copy.code = code;
      copy.crypto.options.keys.secret.ref = `file:keys/${code}.key`;
      return copy;
    };
    const shop = (allow: UpstreamClientDefinition["allow"]): UpstreamClientDefinition => ({
      id: "shop",
      signature: { algorithm: "hmac-sha256", key: { ref: "file:keys/shop.key" } },
      allowedIps: ["127.0.0.1/32"],
      allow,
    });

    /** A watch with nothing failing whose first round, 10 ms after start, reads the revision. */
    const roundsEvery10ms = (
      definitions: DefinitionSource,
      report: StoredKeysReport,
      options: { stopWaitMs?: number } = {},
    ) =>
      new StoredKeysWatch(
        definitions,
        {
          cryptoHandlers: createCryptoHandlerRegistry(),
          keysDir: dir,
          clients: true,
          intervalMs: 10,
          report,
          ...options,
        },
        "an older revision",
        [],
      );

    /**
     * Takes an exclusive lock on the channels table from another connection (the definitions'
     * revision reads it, so a round blocks), held until `release()`.
     */
    const lockChannels = async () => {
      let release: () => void = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = db.knex.transaction(async (trx) => {
        await trx.raw(`LOCK TABLE "${db.schema}".channels IN ACCESS EXCLUSIVE MODE`);
        locked();
        await released;
      });
      await isLocked;
      return { release, holder };
    };
    /** Until a round waits for that lock. */
    const aRoundWaitsForTheLock = () =>
      expect
        .poll(
          async () =>
            (
              (await db.knex.raw(
                `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = '"${db.schema}".channels'::regclass`,
              )) as { rows: { n: number }[] }
            ).rows[0]?.n,
        )
        .toBe(1);

    beforeAll(async () => {
      db = await openTestPostgres();
      dir = await mkdtemp(join(tmpdir(), "capflow-keys-watch-"));
      await mkdir(join(dir, "keys"));
      await writeFile(join(dir, "keys/alpha.key"), "alpha-shared-secret\n");
      meadow = JSON.parse(
        await readFile(
          join(repositoryRoot, "examples/meadow/definitions/meadow.channel.json"),
          "utf8",
        ),
      ) as ChannelDefinition;
    });
    afterAll(async () => {
      await db?.drop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("after a push, a failing channel or client that is gone is said to be removed or retired, not to load again", async () => {
      await pushDefinitions(db, {
        channels: ["alpha", "beta", "gamma"].map(channel),
        clients: [shop({ behaviors: ["alpha/*"] })],
      });
      const report = recordingReport();
      const watch = await StoredKeysWatch.open(db.definitions, {
        cryptoHandlers: createCryptoHandlerRegistry(),
        keysDir: dir,
        clients: true,
        intervalMs: 60_000,
        report,
      });
      try {
        watch.start();
        expect(report.said).toEqual([
          "failing channel beta SECRET_NOT_FOUND",
          "failing channel gamma SECRET_NOT_FOUND",
          "failing client shop SECRET_NOT_FOUND",
        ]);
        report.said.length = 0;

        // beta's key put in place; shop retired by a push; gamma taken out of the stored channels.
        await writeFile(join(dir, "keys/beta.key"), "beta-shared-secret\n");
        await pushDefinitions(db, { clients: [shop({})] });
        await db.knex.raw(`DELETE FROM "${db.schema}".channels WHERE code = 'gamma'`);
        await watch.checkNow();
        expect(watch.failures()).toEqual([]);
        expect(report.said).toEqual([
          "channel beta: its keys load again",
          "channel gamma: removed from the stored definitions, so its keys are no longer loaded",
          "client shop: retired (it allows nothing), so its key is no longer loaded",
        ]);
      } finally {
        await watch.stop();
      }
    });

    test("stop() returns promptly while a round is blocked on a table lock, and the round says nothing after", async () => {
      const report = recordingReport();
      const watch = roundsEvery10ms(db.definitions, report, { stopWaitMs: 200 });
      const { release, holder } = await lockChannels();
      try {
        watch.start();
        await aRoundWaitsForTheLock();
        const started = Date.now();
        await watch.stop();
        expect(Date.now() - started).toBeLessThan(1_000);
      } finally {
        // Held well past the bound: a stop() that waited for the round would take this long.
        setTimeout(release, 3_000);
        await holder;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(report.said).toEqual([]);
    });

    test("stopping (twice, as capflow serve does) and closing the database take about a second while a round waits on a table lock held far longer", async () => {
      // The watch's own handle, as capflow serve and capflow worker have: closing its pool waits
      // for every connection in use, a round's included.
      const own = openPostgresStore({ connectionString: databaseUrl!, schema: db.schema });
      const report = recordingReport();
      const watch = new StoredKeysWatch(
        own.definitions,
        {
          cryptoHandlers: createCryptoHandlerRegistry(),
          keysDir: dir,
          clients: true,
          intervalMs: 10,
          report,
          rounds: lockBoundedRounds(own, dir),
        },
        "an older revision",
        [],
      );
      const { release, holder } = await lockChannels();
      let closed = false;
      try {
        // Held well past the bound: a shutdown that waited for the lock would take this long.
        setTimeout(release, 6_000);
        watch.start();
        await aRoundWaitsForTheLock();
        const started = Date.now();
        await watch.stop();
        await watch.stop();
        await own.close();
        closed = true;
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        await holder;
        if (!closed) await own.close();
      }
      expect(report.said).toEqual([]);
    }, 30_000);

    test("a round on PostgreSQL reads as the engine does when nothing is locked", async () => {
      await pushDefinitions(db, { channels: [channel("alpha"), channel("delta")] });
      const report = recordingReport();
      const watch = new StoredKeysWatch(
        db.definitions,
        {
          cryptoHandlers: createCryptoHandlerRegistry(),
          keysDir: dir,
          clients: false,
          intervalMs: 60_000,
          report,
          rounds: lockBoundedRounds(db, dir),
        },
        "an older revision",
        [],
      );
      await watch.checkNow();
      expect(watch.failures().map((failure) => failure.what)).toContain("channel delta");
      expect(watch.failures().map((failure) => failure.what)).not.toContain("channel alpha");
    });

    test("stop() returns promptly while a round waits for a database that never answers", async () => {
      // A host that takes the connection and says nothing (a dropped route, a hung proxy): the
      // connection attempt waits far longer than a shutdown may.
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => {
        sockets.add(socket);
      });
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const { port } = silent.address() as AddressInfo;
      const away = openPostgresStore({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
        schema: uniqueSchema(),
      });
      const report = recordingReport();
      const watch = roundsEvery10ms(away.definitions, report);
      try {
        watch.start();
        await expect.poll(() => sockets.size).toBeGreaterThan(0);
        const started = Date.now();
        await watch.stop();
        // The default bound: about a second.
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        for (const socket of sockets) socket.destroy();
        silent.close();
        await away.close();
      }
      expect(report.said).toEqual([]);
    });
  },
);
