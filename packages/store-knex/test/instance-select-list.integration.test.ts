import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { instanceFromRow, instanceSelectList, type Row } from "../src/rows.ts";
import { databaseUrl, openTestPostgres, skipMessage } from "./support/databases.ts";

describe.skipIf(!databaseUrl)(
  databaseUrl ? "instanceSelectList on PostgreSQL" : skipMessage,
  () => {
    let db: Awaited<ReturnType<typeof openTestPostgres>>;
    beforeAll(async () => {
      db = await openTestPostgres();
    });
    afterAll(async () => {
      await db?.drop();
    });

    test("reads the same record as the row itself, timestamps with microseconds, infinity and nulls included, whatever extra_float_digits", async () => {
      const instances = `"${db.schema}".instances`;
      // Written by SQL, not by the engine: microseconds a Date does not hold, one before 1970.
      await db.knex.raw(
        `INSERT INTO ${instances} (id, channel, behavior, behavior_version, business_key, input,
           input_digest, step, status, context, snapshot, next_run_at, lease_owner, lease_until,
           created_at, updated_at)
         VALUES
           ('I-micro', 'lanbank', 'loan', 1, 'B-1', '{"n": 1}', 'd', 'apply', 'active', '{}', '{}',
            '2026-12-07 21:03:24.487999+00', 'w', '2026-12-07 21:04:24.000001+00',
            '2026-12-07 21:03:24.4875+08', '2026-12-07 21:03:24.999+00'),
           ('I-old', 'lanbank', 'loan', 1, 'B-2', '{}', 'd', 'apply', 'waiting', '{}', '{}',
            NULL, NULL, NULL, '1969-12-31 23:59:59.9995+00', '1969-07-20 20:17:40+00'),
           ('I-ever', 'lanbank', 'loan', 1, 'B-3', '{}', 'd', 'apply', 'active', '{}', '{}',
            'infinity', 'w', '-infinity', '2038-01-19 03:14:07.999+00', '2260-05-01 00:00:00.001+00')`,
      );
      for (const id of ["I-micro", "I-old", "I-ever"]) {
        const whole = (await db.knex.raw(`SELECT * FROM ${instances} WHERE id = ?`, [id]))
          .rows[0] as Row;
        // A role or database may set extra_float_digits; it must not change what is read.
        for (const digits of [1, 0, -15]) {
          const listed = await db.knex.transaction(async (trx) => {
            await trx.raw(`SET LOCAL extra_float_digits = ${digits}`);
            const select = `SELECT ${instanceSelectList("i")} FROM ${instances} i WHERE id = ?`;
            return (await trx.raw(select, [id])).rows[0] as Row;
          });
          expect(typeof listed.created_at).toBe("string");
          expect(instanceFromRow(listed)).toEqual(instanceFromRow(whole));
        }
      }
    });
  },
);
