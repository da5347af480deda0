import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loanBehavior, product } from "../../core/test/routing/fixtures.ts";
import {
  funder,
  routingScenarios,
  routingWorld,
} from "../../core/test/routing/routing-scenarios.ts";
import { KnexInstanceStore } from "../src/index.ts";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
  truncateRuntimeTables,
} from "./support/databases.ts";

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

describe.skipIf(!databaseUrl)(databaseUrl ? "fund routing on PostgreSQL" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  beforeAll(async () => {
    db = await openTestPostgres({ pool: { max: 16 } });
  });
  afterAll(async () => {
    await db.drop();
  });
  const store = () => new KnexInstanceStore(db.knex, { schema: db.schema, target: db.target });

  describe("end to end", () => {
    routingScenarios(async () => {
      await truncateRuntimeTables(db);
      return store();
    });
  });

  test("10,000 starts follow the weights 5:3:2 within 1% of each share", async () => {
    await truncateRuntimeTables(db);
    const world = routingWorld(store(), {
      channels: [funder("lanbank"), funder("meadow"), funder("jade")],
      behaviors: [loanBehavior("lanbank"), loanBehavior("meadow"), loanBehavior("jade")],
      products: [
        product([
          { channel: "lanbank", behavior: "loan", weight: 5 },
          { channel: "meadow", behavior: "loan", weight: 3 },
          { channel: "jade", behavior: "loan", weight: 2 },
        ]),
      ],
    });
    const total = 10_000;
    const counts: Record<string, number> = { lanbank: 0, meadow: 0, jade: 0 };
    // 16 starts in flight at a time, as several request handlers would.
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          const n = next++;
          const instance = await world.engine.start({
            product: "cash-loan",
            businessKey: `W-${n}`,
            input: { loanNo: `W-${n}`, amount: "100.00" },
          });
          counts[instance.channel]!++;
        }
      }),
    );
    for (const [channel, weight] of [
      ["lanbank", 5],
      ["meadow", 3],
      ["jade", 2],
    ] as const) {
      expect(Math.abs(counts[channel]! / total - weight / 10)).toBeLessThanOrEqual(0.01);
    }
  }, 300_000);

  test("a channel start and a product start racing for one business key never both start", async () => {
    await truncateRuntimeTables(db);
    const t0 = Date.UTC(2026, 0, 5, 2, 0, 0);
    const instance = (key: string, channel: string, behavior = "loan") => ({
      id: randomUUID(),
      channel,
      behavior,
      businessKey: key,
      behaviorVersion: 1,
      inputDigest: "d",
      input: { amount: "100.00" },
      step: "apply",
      status: "active" as const,
      context: {},
      snapshot: { value: "apply" },
      nextRunAt: t0,
      now: t0,
    });
    const channels = [
      { channel: "meadow", behavior: "loan" },
      { channel: "lanbank", behavior: "loan" },
    ];
    // Two nodes: one routes the key to meadow, the other starts it directly on lanbank, every
    // other key under a behavior the product does not list there (it holds the key all the same).
    const routedNode = store();
    const channelNode = store();
    const keys = Array.from({ length: 300 }, (_, n) => `R-${n}`);
    await Promise.all(
      keys.flatMap((key, n) => [
        routedNode.createRoutedInstance(
          {
            ...instance(key, "meadow"),
            product: "cash-loan",
            routing: {
              product: "cash-loan",
              rule: "weighted-round-robin",
              position: 1,
              amount: "100.00",
              candidates: [],
              quotas: [],
            },
          },
          channels,
        ),
        channelNode.createInstance(instance(key, "lanbank", n % 2 === 0 ? "loan" : "credit"), [
          "cash-loan",
        ]),
      ]),
    );
    const rows = await db.knex.raw(
      `SELECT business_key, count(*)::int AS n FROM "${db.schema}".instances
       GROUP BY business_key HAVING count(*) > 1`,
    );
    expect(rows.rows).toEqual([]);
    const total = await db.knex.raw(`SELECT count(*)::int AS n FROM "${db.schema}".instances`);
    expect(total.rows[0].n).toBe(keys.length);
  }, 120_000);

  test("quotas hold under concurrent starts from four processes: not one start or fen over, the accounts' included", async () => {
    await truncateRuntimeTables(db);
    const processes = 4;
    const reports = await Promise.all(
      Array.from({ length: processes }, (_, p) =>
        run(
          process.execPath,
          [
            "--import",
            "tsx",
            "--conditions=@capflow/source",
            join(here, "fixtures", "quota-starter.ts"),
          ],
          {
            cwd: join(here, "..", "..", ".."),
            env: { ...process.env, SCHEMA: db.schema, STARTS: "30", PREFIX: `P${p}` },
          },
        ).then(
          ({ stdout }) =>
            JSON.parse(stdout.trim().split("\n").at(-1)!) as { started: string[]; refused: number },
        ),
      ),
    );
    const started = reports.flatMap((report) => report.started);
    const sum = started.reduce((total, amount) => total.plus(amount), new Decimal(0));
    // 120 starts asked; the count quota (40 in total) or the amount quota (1000.00 a day) stops
    // them, and each account's own: shop-a 600.00 a day, then shop-b 15 starts.
    expect(sum.lte("1000.00")).toBe(true);
    expect(started.length).toBeLessThanOrEqual(40);
    expect(started.length + reports.reduce((n, r) => n + r.refused, 0)).toBe(processes * 30);
    const accounts = await db.knex.raw(
      `SELECT account, count(*)::int AS n, sum((input->>'amount')::numeric)::text AS amount
       FROM "${db.schema}".instances WHERE product = 'cash-loan' GROUP BY account ORDER BY account`,
    );
    const byAccount = Object.fromEntries(
      accounts.rows.map((row: { account: string; n: number; amount: string }) => [
        row.account,
        { n: row.n, amount: new Decimal(row.amount) },
      ]),
    ) as Record<string, { n: number; amount: Decimal }>;
    expect(Object.keys(byAccount)).toEqual(["shop-a", "shop-b"]);
    expect(byAccount["shop-a"]!.amount.lte("600.00")).toBe(true);
    expect(byAccount["shop-b"]!.n).toBeLessThanOrEqual(15);
    // Full: no amount of the batch would still have fitted anywhere, unless a count limit stopped it.
    const accountsFull =
      byAccount["shop-a"]!.amount.plus("17.00").gt("600.00") && byAccount["shop-b"]!.n === 15;
    expect(started.length === 40 || sum.plus("17.00").gt("1000.00") || accountsFull).toBe(true);
    const usage = await store().quotaUsage([
      { scope: "channel:lanbank/loan", period: "total" },
      { scope: "account:lanbank/shop-b/loan", period: "total" },
    ]);
    const used = (scope: string) => usage.find((u) => u.scope === scope)?.usedCount;
    expect(used("channel:lanbank/loan")).toBe(started.length);
    expect(used("account:lanbank/shop-b/loan")).toBe(byAccount["shop-b"]!.n);
    const rows = await db.knex.raw(
      `SELECT count(*)::int AS n, coalesce(sum((input->>'amount')::numeric), 0)::text AS amount
       FROM "${db.schema}".instances WHERE product = 'cash-loan'`,
    );
    expect(rows.rows[0].n).toBe(started.length);
    expect(new Decimal(rows.rows[0].amount).eq(sum)).toBe(true);
  }, 300_000);
});
