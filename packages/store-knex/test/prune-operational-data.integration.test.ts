import { isCapflowError } from "@capflow/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from "vitest";
import {
  type CapflowDatabase,
  minimumPruneAges,
  type PruneOptions,
  pruneOperationalData,
} from "../src/index.ts";
import { qualifiedNames } from "../src/sql-names.ts";
import { databaseUrl, openTestPglite, openTestPostgres, skipMessage } from "./support/databases.ts";

const day = 86_400_000;
const now = Date.parse("2026-12-07T12:00:00Z");
const ago = (ms: number) => new Date(now - ms);

describe("pruneOperationalData on PGlite", () => {
  let db: CapflowDatabase;
  beforeAll(async () => {
    db = await openTestPglite();
  });
  afterAll(async () => {
    await db.close();
  });
  pruneSuite(() => db);
});

describe.skipIf(!databaseUrl)(
  databaseUrl ? "pruneOperationalData on PostgreSQL" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db.drop();
    });
    pruneSuite(() => db);

    test("ages count back from the database's clock, not from a host whose clock runs ahead", async () => {
      await seedByDatabaseClock(db);
      // This host's clock is 200 days ahead of the database's (PGlite runs on the host's clock).
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 200 * day });
      try {
        const report = await pruneOperationalData(db);
        expect(report).toMatchObject({ inboxEntries: 1, notifications: 0 });
      } finally {
        vi.useRealTimers();
      }
      expect(await ids(db, "inbox")).toEqual(["processed-10-days-ago"]);
    });

    test("a row another transaction holds is skipped, not waited for, and pruned by the next run", async () => {
      const t = qualifiedNames(db.schema);
      await db.knex.raw(`TRUNCATE ${t.outbox}`);
      await db.knex.raw(
        `INSERT INTO ${t.outbox} (id, instance_id, type, payload, status, created_at, delivered_at)
         SELECT 'old-' || i, 'i', 'instance.settled', '{}', 'delivered', ?, ?
         FROM generate_series(1, 3) AS i`,
        [ago(200 * day), ago(199 * day)],
      );
      // An operator's re-send holds the row's lock until its statement commits.
      const holder = await db.knex.transaction();
      try {
        await holder.raw(`SELECT id FROM ${t.outbox} WHERE id = 'old-2' FOR UPDATE`);
        const started = Date.now();
        const report = await pruneOperationalData(db, { now, batchSize: 1 });
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(report.notifications).toBe(2);
        expect(await ids(db, "outbox")).toEqual(["old-2"]);
      } finally {
        await holder.commit();
      }
      expect((await pruneOperationalData(db, { now })).notifications).toBe(1);
      expect(await ids(db, "outbox")).toEqual([]);
    });
  },
);

function pruneSuite(database: () => CapflowDatabase) {
  let db: CapflowDatabase;
  beforeEach(async () => {
    db = database();
    const t = qualifiedNames(db.schema);
    await db.knex.raw(
      `TRUNCATE ${t.outbox}, ${t.inbox}, ${t.schema}."queued_starts", ${t.schema}."query_cache"`,
    );
    await seed(db);
  });

  test("deletes what is past its age and keeps the rest, boundaries included", async () => {
    const report = await pruneOperationalData(db, { now });
    expect(report).toEqual({
      dryRun: false,
      notifications: 4,
      inboxEntries: 2,
      queuedStarts: 3,
      queryCacheEntries: 2,
    });
    expect(await ids(db, "outbox")).toEqual([
      "delivered-at-the-age",
      "delivered-recently",
      "failed-recently",
      "failed-resent-recently",
      "pending-old",
      "pending-resent-old",
    ]);
    expect(await ids(db, "inbox")).toEqual([
      "processed-at-the-age",
      "processed-kept-raw",
      "processed-recently",
      "unprocessed-old",
    ]);
    expect(await ids(db, "queued_starts", "business_key")).toEqual([
      "queued-long-ago",
      "started-recently",
    ]);
    expect(await ids(db, "query_cache", "key")).toEqual(["valid"]);
    // A second run finds nothing more.
    expect(await pruneOperationalData(db, { now })).toMatchObject({
      notifications: 0,
      inboxEntries: 0,
      queuedStarts: 0,
      queryCacheEntries: 0,
    });
  });

  test("a dry run counts the same rows and deletes none", async () => {
    const before = await totals(db);
    const report = await pruneOperationalData(db, { now, dryRun: true });
    expect(report).toEqual({
      dryRun: true,
      notifications: 4,
      inboxEntries: 2,
      queuedStarts: 3,
      queryCacheEntries: 2,
    });
    expect(await totals(db)).toEqual(before);
  });

  test("small batches delete everything due, one bounded statement at a time", async () => {
    const t = qualifiedNames(db.schema);
    await db.knex.raw(
      `INSERT INTO ${t.outbox} (id, instance_id, type, payload, status, created_at, delivered_at)
       SELECT 'bulk-' || i, 'i', 'instance.settled', '{}', 'delivered', ?, ?
       FROM generate_series(1, 25) AS i`,
      [ago(200 * day), ago(199 * day)],
    );
    const report = await pruneOperationalData(db, { now, batchSize: 3 });
    expect(report.notifications).toBe(29);
    expect((await ids(db, "outbox")).filter((id) => id.startsWith("bulk-"))).toEqual([]);
  });

  test("ages are per kind: the shortest ages reach younger rows, never pending, unprocessed or queued ones", async () => {
    const report = await pruneOperationalData(db, {
      now,
      ...minimumPruneAges,
    });
    expect(report).toMatchObject({ notifications: 6, inboxEntries: 3, queuedStarts: 4 });
    expect(await ids(db, "outbox")).toEqual([
      "failed-recently",
      "failed-resent-recently",
      "pending-old",
      "pending-resent-old",
    ]);
    expect(await ids(db, "inbox")).toEqual([
      "processed-kept-raw",
      "processed-recently",
      "unprocessed-old",
    ]);
    expect(await ids(db, "queued_starts", "business_key")).toEqual(["queued-long-ago"]);
  });

  test("an age under its kind's floor is refused, saying the floor and why, and nothing is deleted", async () => {
    const before = await totals(db);
    const refusals: [Partial<PruneOptions>, string][] = [
      [
        { inboxOlderThanMs: 0 },
        "inboxOlderThanMs must be 7d or more, not 0s: a processed callback is what recognises a funder's repeat",
      ],
      [{ inboxOlderThanMs: 7 * day - 1 }, "inboxOlderThanMs must be 7d or more, not 604799999 ms"],
      [
        { notificationsOlderThanMs: 60_000 },
        "notificationsOlderThanMs must be 7d or more, not 1m: a failed notification waits for an operator to re-send it",
      ],
      [
        { queuedStartsOlderThanMs: 23 * 3_600_000 },
        "queuedStartsOlderThanMs must be 1d or more, not 23h: the upstream reads a closed queued start back",
      ],
    ];
    for (const [options, message] of refusals) {
      const error = await pruneOperationalData(db, { now, ...options }).catch((e: unknown) => e);
      expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
      expect((error as Error).message).toContain(message);
    }
    expect(await totals(db)).toEqual(before);
    // Expired cached answers have no floor: nobody is served one.
    expect(await pruneOperationalData(db, { now, queryCacheOlderThanMs: 0 })).toMatchObject({
      queryCacheEntries: 2,
    });
  });

  test("without a present given, ages count back from the database's clock", async () => {
    await seedByDatabaseClock(db);
    expect((await pruneOperationalData(db)).inboxEntries).toBe(1);
    expect(await ids(db, "inbox")).toEqual(["processed-10-days-ago"]);
  });

  test("a notification that runs out of retries is aged from then; a re-send takes it back", async () => {
    const t = qualifiedNames(db.schema);
    for (const id of ["gave-up-long-ago", "gave-up-lately", "gave-up-then-resent"]) {
      await db.knex.raw(
        `INSERT INTO ${t.outbox} (id, instance_id, type, payload, status, lease_owner, lease_until, created_at)
         VALUES (?, 'i', 'instance.settled', '{}', 'pending', 'dispatcher', ?, ?)`,
        [id, ago(-day), ago(300 * day)],
      );
    }
    const giveUp = (id: string, at: number) =>
      db.instances.recordDelivery({
        id,
        owner: "dispatcher",
        now: at,
        delivered: false,
        error: { code: "NOTIFY_FAILED", message: "the receiver answered 500" },
        nextAttemptAt: null,
      });
    expect(await giveUp("gave-up-long-ago", now - 120 * day)).toBe(true);
    expect(await giveUp("gave-up-lately", now - 2 * day)).toBe(true);
    expect(await giveUp("gave-up-then-resent", now - 120 * day)).toBe(true);
    await db.instances.resendNotification({
      id: "gave-up-then-resent",
      now: now - 100 * day,
      by: "ops@lender",
      why: "receiver fixed",
    });
    const [row] = (
      (await db.knex.raw(`SELECT status, failed_at FROM ${t.outbox} WHERE id = ?`, [
        "gave-up-then-resent",
      ])) as { rows: { status: string; failed_at: Date | null }[] }
    ).rows;
    expect(row).toEqual({ status: "pending", failed_at: null });

    await pruneOperationalData(db, { now });
    const left = await ids(db, "outbox");
    expect(left).not.toContain("gave-up-long-ago");
    expect(left).toContain("gave-up-lately");
    expect(left).toContain("gave-up-then-resent");
  });

  test("a present ahead of the database's clock is refused, and nothing is deleted", async () => {
    await seedByDatabaseClock(db);
    const t = qualifiedNames(db.schema);
    await db.knex.raw(
      `INSERT INTO ${t.inbox} (id, channel, callback, dedupe_key, business_key, payload, received_at, processed_at)
       VALUES ('processed-an-hour-ago', 'lanbank', 'loan.result', 'h', 'L-1', '{}', now() - interval '2 hours', now() - interval '1 hour')`,
    );
    const before = await totals(db);
    for (const ahead of [Date.now() + 30 * day, Date.now() + 5 * 60_000, 8.64e15 + 1]) {
      const error = await pruneOperationalData(db, { now: ahead }).catch((e: unknown) => e);
      expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
      expect((error as Error).message).toContain("is ahead of the database's clock (");
      expect((error as Error).message).toContain(
        "leave now out to count from the database's clock",
      );
    }
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = await pruneOperationalData(db, { now: bad }).catch((e: unknown) => e);
      expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
    }
    expect(await totals(db)).toEqual(before);
    // Clocks a few seconds apart are no reason to refuse; the floors still hold.
    expect(
      await pruneOperationalData(db, { now: Date.now() + 10_000, ...minimumPruneAges }),
    ).toMatchObject({ inboxEntries: 2 });
    expect(await ids(db, "inbox")).toEqual(["processed-an-hour-ago"]);
  });

  test("the floors cannot be lowered at runtime", async () => {
    expect(Object.isFrozen(minimumPruneAges)).toBe(true);
    expect(() => {
      (minimumPruneAges as { inboxOlderThanMs: number }).inboxOlderThanMs = 0;
    }).toThrow(TypeError);
    expect(minimumPruneAges.inboxOlderThanMs).toBe(7 * day);
    const error = await pruneOperationalData(db, { now, inboxOlderThanMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
  });

  test("a schema without the retention migration is refused, saying to migrate, nothing deleted", async () => {
    const before = await totals(db);
    const migrations = `"${db.schema}".knex_migrations`;
    await db.knex.raw(`UPDATE ${migrations} SET name = 'hidden' WHERE name = '0045_retention'`);
    try {
      const error = await pruneOperationalData(db, { now }).catch((e: unknown) => e);
      expect(isCapflowError(error, "STORE_FAILED")).toBe(true);
      expect((error as Error).message).toContain("0045_retention): run `capflow migrate`");
    } finally {
      await db.knex.raw(`UPDATE ${migrations} SET name = '0045_retention' WHERE name = 'hidden'`);
    }
    expect(await totals(db)).toEqual(before);
  });

  test("bad options are refused with CONFIG_INVALID before anything is deleted", async () => {
    const before = await totals(db);
    for (const options of [
      { inboxOlderThanMs: -1 },
      { notificationsOlderThanMs: Number.NaN },
      { batchSize: 0 },
      { batchSize: 1.5 },
    ]) {
      const error = await pruneOperationalData(db, { now, ...options }).catch((e: unknown) => e);
      expect(isCapflowError(error, "CONFIG_INVALID")).toBe(true);
    }
    expect(await totals(db)).toEqual(before);
  });
}

async function seed(db: CapflowDatabase): Promise<void> {
  const t = qualifiedNames(db.schema);
  const notifications: [string, string, Date, Date | null, Date | null, Date | null][] = [
    // id, status, created_at, delivered_at, failed_at, resent_at
    ["delivered-long-ago", "delivered", ago(100 * day), ago(95 * day), null, null],
    ["delivered-just-past-the-age", "delivered", ago(91 * day), ago(90 * day + 1), null, null],
    ["delivered-at-the-age", "delivered", ago(91 * day), ago(90 * day), null, null],
    ["delivered-recently", "delivered", ago(100 * day), ago(10 * day), null, ago(11 * day)],
    ["pending-old", "pending", ago(400 * day), null, null, null],
    ["pending-resent-old", "pending", ago(400 * day), null, null, ago(200 * day)],
    ["failed-long-ago", "failed", ago(200 * day), null, ago(91 * day), null],
    ["failed-recently", "failed", ago(200 * day), null, ago(1 * day), null],
    // Failed by a node older than the failure time: aged from creation or last re-send.
    ["failed-untimed-old", "failed", ago(100 * day), null, null, null],
    ["failed-resent-recently", "failed", ago(100 * day), null, null, ago(5 * day)],
  ];
  for (const [id, status, created, delivered, failed, resent] of notifications) {
    await db.knex.raw(
      `INSERT INTO ${t.outbox} (id, instance_id, type, payload, status, created_at, delivered_at, failed_at, resent_at, next_attempt_at)
       VALUES (?, 'i', 'instance.settled', '{}', ?, ?, ?, ?, ?, ?)`,
      [id, status, created, delivered, failed, resent, status === "pending" ? created : null],
    );
  }
  const inbox: [string, Date, Date | null, boolean][] = [
    // id, received_at, processed_at, kept as received
    ["processed-long-ago", ago(300 * day), ago(299 * day), false],
    ["processed-just-past-the-age", ago(91 * day), ago(90 * day + 1), false],
    ["processed-at-the-age", ago(91 * day), ago(90 * day), false],
    ["processed-recently", ago(2 * day), ago(1 * day), false],
    ["unprocessed-old", ago(365 * day), null, false],
    ["processed-kept-raw", ago(300 * day), ago(299 * day), true],
  ];
  for (const [id, received, processed, raw] of inbox) {
    await db.knex.raw(
      `INSERT INTO ${t.inbox} (id, channel, callback, dedupe_key, business_key, payload, received_at, processed_at, raw)
       VALUES (?, 'lanbank', 'loan.result', ?, 'L-1', '{}', ?, ?, ?)`,
      [id, id, received, processed, raw ? JSON.stringify({ alg: "A256GCM" }) : null],
    );
  }
  const starts: [string, string, Date, Date | null][] = [
    // business key, status, enqueued_at, finished_at
    ["started-long-ago", "started", ago(40 * day), ago(31 * day)],
    ["expired-long-ago", "expired", ago(40 * day), ago(31 * day)],
    ["failed-long-ago", "failed", ago(40 * day), ago(30 * day + 1)],
    ["started-recently", "started", ago(3 * day), ago(2 * day)],
    ["queued-long-ago", "queued", ago(365 * day), null],
  ];
  for (const [index, [businessKey, status, enqueued, finished]] of starts.entries()) {
    await db.knex.raw(
      `INSERT INTO "${db.schema}".queued_starts (id, channel, behavior, business_key, input, status, enqueued_at, expires_at, finished_at)
       VALUES (?::uuid, 'lanbank', 'loan', ?, '{}', ?, ?, ?, ?)`,
      [
        `00000000-0000-4000-8000-00000000000${index}`,
        businessKey,
        status,
        enqueued,
        new Date(enqueued.getTime() + day),
        finished,
      ],
    );
  }
  const cached: [string, Date][] = [
    ["expired-long-ago", ago(10 * day)],
    ["expires-now", ago(0)],
    ["valid", ago(-1)],
  ];
  for (const [key, expires] of cached) {
    await db.knex.raw(
      `INSERT INTO "${db.schema}".query_cache (key, channel, behavior, instance_id, value, stored_at, expires_at)
       VALUES (?, 'lanbank', 'loan', 'i', '{}', ?, ?)`,
      [key, ago(20 * day), expires],
    );
  }
}

/** Only two inbox entries, processed 100 and 10 days before the database's present. */
async function seedByDatabaseClock(db: CapflowDatabase): Promise<void> {
  const t = qualifiedNames(db.schema);
  await db.knex.raw(
    `TRUNCATE ${t.outbox}, ${t.inbox}, ${t.schema}."queued_starts", ${t.schema}."query_cache"`,
  );
  for (const [id, days] of [
    ["processed-100-days-ago", 100],
    ["processed-10-days-ago", 10],
  ] as const) {
    await db.knex.raw(
      `INSERT INTO ${t.inbox} (id, channel, callback, dedupe_key, business_key, payload, received_at, processed_at)
       VALUES (?, 'lanbank', 'loan.result', ?, 'L-1', '{}', now() - ? * interval '1 day', now() - ? * interval '1 day')`,
      [id, id, days, days],
    );
  }
}

async function ids(db: CapflowDatabase, table: string, column = "id"): Promise<string[]> {
  const result = (await db.knex.raw(
    `SELECT ${column} AS id FROM "${db.schema}".${table} ORDER BY ${column} COLLATE "C"`,
  )) as { rows: { id: string }[] };
  return result.rows.map((row) => row.id);
}

async function totals(db: CapflowDatabase): Promise<number[]> {
  const counts: number[] = [];
  for (const table of ["outbox", "inbox", "queued_starts", "query_cache"]) {
    const result = (await db.knex.raw(`SELECT count(*) AS n FROM "${db.schema}".${table}`)) as {
      rows: { n: string }[];
    };
    counts.push(Number(result.rows[0]?.n));
  }
  return counts;
}
