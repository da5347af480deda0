import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  databaseUrl,
  openTestPostgres,
  skipMessage,
} from "../../store-knex/test/support/databases.ts";
import { runCapflow } from "./support/run-capflow.ts";
import { spawnServe } from "./support/spawn-serve.ts";

const fixtures = "packages/cli/test/fixtures/routing";

/**
 * A product's choice through the CLI: `instances start --product` routes, and `instances show`,
 * `list --product` and `--json` tell which channel took the business, which rule chose it and what
 * every candidate was (eligible, full, tried). Three funders without partner calls: north (weight
 * 2, two starts a day, declines above 3000 with failover), south (weight 1; two merchant
 * accounts, the first with one start a day), west (terms up to six months only).
 */
describe.skipIf(!databaseUrl)(databaseUrl ? "capflow and a product's routing" : skipMessage, () => {
  let db: Awaited<ReturnType<typeof openTestPostgres>>;
  const database = () => ["--database-url", databaseUrl!, "--schema", db.schema];
  const start = async (key: string, input: Record<string, unknown>) => {
    const run = await runCapflow(
      "instances",
      ...["start", "--product", "cash-loan", "--key", key, "--input", JSON.stringify(input)],
      ...[...database(), "--json"],
    );
    expect(run.stderr).toBe("");
    expect(run.exitCode).toBe(0);
    return JSON.parse(run.stdout) as {
      id: string;
      channel: string;
      routing: { rule: string; candidates: { channel: string; state: string }[] };
    };
  };

  beforeAll(async () => {
    db = await openTestPostgres();
    const pushed = await runCapflow("push", fixtures, ...database());
    expect(pushed.stderr).toBe("");
    expect(pushed.stdout).toContain("product cash-loan: added");
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  test("the choice, the candidates' states and a failover show in show, list and --json", async () => {
    // Smooth weighted round robin over north (2) and south (1): north, south, north …
    const first = await start("L1", { amount: "1000.00", termMonths: 12 });
    expect(first.channel).toBe("north");
    expect(first.routing.rule).toBe("weighted-round-robin");
    expect(first.routing.candidates.map((c) => `${c.channel} ${c.state}`)).toEqual([
      "north chosen",
      "south not-needed",
      "west ineligible",
    ]);
    expect((await start("L2", { amount: "1000.00", termMonths: 12 })).channel).toBe("south");
    // North's turn: above 3000 it will decline, and the business fails over to south.
    const declined = await start("L3", { amount: "5000.00", termMonths: 12 });
    expect(declined.channel).toBe("north");
    // North's turn again, but its two starts of the day are taken: south, by next-with-quota.
    const full = await start("L4", { amount: "1000.00", termMonths: 12 });
    expect(full.channel).toBe("south");

    const show = await runCapflow("instances", "show", full.id, ...database());
    expect(show.stderr).toBe("");
    expect(show.stdout).toMatch(/^channel\/behavior +south\/loan \(version 1\)$/m);
    expect(show.stdout).toMatch(/^product +cash-loan \(position 4, amount 1000\)$/m);
    expect(show.stdout).toMatch(/^routed by +next-with-quota$/m);
    expect(show.stdout).toMatch(
      /^candidates +north w2 quota-exhausted \(product:cash-loan\/north has no room in \d{4}-\d\d-\d\d\); south w1 chosen; west w1 ineligible \(when input\.termMonths <= 6 is false\)$/m,
    );
    // South's first account took one start a day (L2's): L4 gets the second, and says why.
    expect(show.stdout).toMatch(
      /^account +shop-b \(first-match, passed over shop-a: quota full\)$/m,
    );
    expect(show.stdout).toMatch(/routed .*south#shop-b by next-with-quota/);

    const worker = await runCapflow("worker", ...database(), "--exit-when-idle");
    expect(worker.stderr).toBe("");
    expect(worker.exitCode).toBe(0);

    const business = await runCapflow(
      "instances",
      ...["list", "--product", "cash-loan", "--business-key", "L3", "--json"],
      ...database(),
    );
    const tries = business.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(tries.map((t) => `${t.channel} ${t.status}`).sort()).toEqual([
      "north failed",
      "south succeeded",
    ]);
    const next = tries.find((t) => t.channel === "south")!;
    const shown = await runCapflow("instances", "show", next.id, ...database(), "--json");
    const instance = JSON.parse(shown.stdout);
    expect(instance.failoverOf).toBe(declined.id);
    expect(instance.history[0]).toMatchObject({ event: "routed" });
    expect(instance.routing).toMatchObject({
      product: "cash-loan",
      failover: { of: declined.id, tried: ["north"] },
    });
    expect(
      instance.routing.candidates.map((c: { channel: string; state: string }) => c.state),
    ).toEqual(["tried", "chosen", "ineligible"]);
    const text = await runCapflow("instances", "show", next.id, ...database());
    expect(text.stdout).toMatch(/routed +south#shop-b by weighted-round-robin after north/);
    expect(text.stdout).toMatch(new RegExp(`^failover of +${declined.id} \\(tried north\\)$`, "m"));

    // The declined try released its hold: on its next turn north has room again.
    expect((await start("L5", { amount: "1000.00", termMonths: 12 })).channel).toBe("south");
    const again = await start("L6", { amount: "1000.00", termMonths: 12 });
    expect(again).toMatchObject({ channel: "north", routing: { rule: "weighted-round-robin" } });
    const listed = await runCapflow("instances", "list", "--product", "cash-loan", ...database());
    expect(listed.stdout.trimEnd().split("\n").at(-1)).toBe("7 instances");
  }, 120_000);

  test("a start whose amount is not a decimal is refused with what to send, and nothing is stored", async () => {
    const refused = await runCapflow(
      "instances",
      ...["start", "--product", "cash-loan", "--key", "BAD", "--input", '{"amount":"lots"}'],
      ...database(),
    );
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("send it as a plain decimal");
    expect(refused.stderr).toContain('such as "1000.00"');
    const listed = await runCapflow(
      "instances",
      ...["list", "--product", "cash-loan", "--business-key", "BAD"],
      ...database(),
    );
    expect(listed.stdout.trimEnd().split("\n").at(-1)).toBe("0 instances");
  }, 60_000);
});

/**
 * On a PGlite folder a running `capflow serve` holds, `instances start` goes through its operator
 * API: a product's start prints the same there as when the command opens the folder itself.
 */
describe("capflow instances start --product through a running capflow serve (PGlite)", () => {
  let dir: string;
  const db = () => join(dir, "db");
  const input = JSON.stringify({ amount: "1000.00", termMonths: 12 });
  const start = (key: string, ...more: string[]) =>
    runCapflow(
      "instances",
      ...["start", "--product", "cash-loan", "--key", key, "--input", input],
      ...["--pglite", db(), "--reason", "routing checked by hand", ...more],
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "capflow-routing-serve-"));
    const pushed = await runCapflow("push", fixtures, "--pglite", db());
    expect(pushed.stderr).toBe("");
    expect(pushed.exitCode).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("the channel, the rule that chose it and the routing record, as when started directly", async () => {
    // Directly: no server holds the folder.
    const direct = await start("L1", "--json");
    expect(direct.stderr).toBe("");
    expect(direct.exitCode).toBe(0);
    const first = JSON.parse(direct.stdout);
    // Started directly, the reason is recorded with this machine's user name.
    const shown = await runCapflow("instances", "show", first.id, "--pglite", db(), "--json");
    expect(JSON.parse(shown.stdout).history[0]).toMatchObject({
      event: "routed",
      actor: { who: `cli:${userInfo().username}`, why: "routing checked by hand" },
    });
    expect(first).toMatchObject({
      channel: "north",
      product: "cash-loan",
      routing: { product: "cash-loan", rule: "weighted-round-robin" },
    });
    const directText = await start("L1");
    expect(directText.stdout).toMatch(
      new RegExp(
        `^${first.id} north/loan L1: \\w+ at assess.* \\(product cash-loan, routed by weighted-round-robin\\)\n$`,
      ),
    );

    const serve = spawnServe(["--pglite", db(), "--port", "0", "--log-level", "warn"]);
    try {
      await expect
        .poll(serve.output, { timeout: 60_000 })
        .toMatch(/capflow serve on http:\/\/127\.0\.0\.1:\d+/);
      // The server holds the folder now: the command goes through its operator API.
      await readFile(`${db()}.serve.json`, "utf8");

      // The same business again: the same instance, printed the same, routing and all.
      const again = await start("L1", "--json");
      expect(again.stderr).toBe("");
      expect(again.stdout).toBe(direct.stdout);
      expect((await start("L1")).stdout).toBe(directText.stdout);

      // A new business, routed by the server's engine: south, on its first account.
      const routed = await start("L2", "--json");
      expect(routed.stderr).toBe("");
      expect(routed.exitCode).toBe(0);
      const second = JSON.parse(routed.stdout);
      expect(second).toMatchObject({
        channel: "south",
        product: "cash-loan",
        account: "shop-a",
        routing: {
          product: "cash-loan",
          rule: "weighted-round-robin",
          account: { code: "shop-a", rule: "first-match" },
        },
      });
      expect(
        second.routing.candidates.map(
          (c: { channel: string; state: string }) => `${c.channel} ${c.state}`,
        ),
      ).toEqual(["north not-needed", "south chosen", "west ineligible"]);
      expect((await start("L2")).stdout).toMatch(
        new RegExp(
          `^${second.id} south/loan L2: \\w+ at \\w+.* \\(product cash-loan, routed by weighted-round-robin, account shop-a\\)\n$`,
        ),
      );
      // The server's engine starts it, with the server's own --holidays: said, not ignored silently.
      const holidays = join(dir, "acme-2026.json");
      await writeFile(
        holidays,
        JSON.stringify({
          name: "acme",
          holidays: [{ name: "A", from: "2026-01-01", to: "2026-01-01" }],
        }),
      );
      const told = await start("L2", "--holidays", holidays);
      expect(told.exitCode).toBe(0);
      expect(told.stderr).toMatch(
        /^note: --holidays is not used: the capflow serve at http:\/\/127\.0\.0\.1:\d+ starts the instance, with the holiday schedules of its own --holidays\n$/,
      );

      serve.child.kill("SIGTERM");
      expect(await new Promise((resolve) => serve.child.once("exit", resolve))).toBe(0);
    } finally {
      if (serve.child.exitCode === null) serve.child.kill("SIGKILL");
    }
  }, 120_000);
});
