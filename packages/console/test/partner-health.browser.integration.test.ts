import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, ensureConsoleBuilt, launchChromium } from "./support/browser.ts";
import { ConsolePage } from "./support/console-page.ts";
import {
  type ConsoleServer,
  databaseMissing,
  redisUrl,
  startConsoleServer,
} from "./support/console-server.ts";
import {
  accountLimits,
  latencySamples,
  seedPartnerHealth,
} from "./support/partner-health-fixture.ts";

const redisMissing = redisUrl
  ? undefined
  : "partner health browser test skipped: set REDIS_URL (e.g. redis://127.0.0.1:6379) to run it";

/** PostgreSQL's percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = fraction * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

/** The English text of a latency as the console writes it. */
const latencyText = (ms: number) =>
  Math.round(ms) < 1_000 ? `${Math.round(ms)} ms` : `${(Math.round(ms) / 1_000).toFixed(1)} s`;

/**
 * The overview's partner table in headless Chromium, on a server whose flow control state is in
 * Redis: latency from the step logs, a breaker a second node holds open, a limiter taken whole,
 * and the outbox backlog next to the inbox's.
 */
describe.skipIf(chromiumMissing ?? databaseMissing ?? redisMissing)(
  "an operator reading partner health",
  () => {
    let server: ConsoleServer;
    let browser: Browser;

    beforeAll(async () => {
      await ensureConsoleBuilt();
      [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
      await seedPartnerHealth(server);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it("sees each interface's latency, breaker and limiter, and the outbox backlog", async () => {
      const console = await ConsolePage.open(browser, server.url);
      await console.signIn(server.tokens.viewer);
      const table = console.page.getByRole("table", { name: /Partner health/ });
      await table.waitFor();
      const headers = await table.getByRole("columnheader").allInnerTexts();
      expect(headers).toEqual([
        "Channel",
        "Interface",
        "Calls",
        "Latency p50",
        "Latency p99",
        "Circuit breaker",
        "Limiter saturation",
      ]);
      const cells = async (name: RegExp) =>
        table.getByRole("row", { name }).getByRole("cell").allInnerTexts();

      const apply = latencySamples["credit.apply"];
      const applyCells = await cells(/lanbank credit\.apply/);
      expect(applyCells.slice(0, 4)).toEqual([
        "credit.apply",
        String(apply.length),
        latencyText(percentile(apply, 0.5)),
        latencyText(percentile(apply, 0.99)),
      ]);
      expect(applyCells[4]).toBe("Closed");
      expect(applyCells[5]).toContain("100.0%");
      expect(applyCells[5]).toContain("8/8 in flight");
      expect(applyCells[5]).toContain("/20 per 1 s");
      const meter = table
        .getByRole("row", { name: /lanbank credit\.apply/ })
        .getByRole("meter", { name: "Limiter saturation lanbank credit.apply" });
      expect(await meter.getAttribute("value")).toBe("1");

      const query = latencySamples["credit.query"];
      const queryCells = await cells(/lanbank credit\.query/);
      expect(queryCells.slice(0, 4)).toEqual([
        "credit.query",
        String(query.length),
        latencyText(percentile(query, 0.5)),
        latencyText(percentile(query, 0.99)),
      ]);
      expect(queryCells[4]).toMatch(/^Open on 1 of the nodes · next probe in (19|20) min/);
      expect(queryCells[5]).toBe("no limits");

      // An interface no call reached this hour.
      const quiet = await cells(/lanbank repay\.trial/);
      expect(quiet.slice(0, 5)).toEqual(["repay.trial", "0", "—", "—", "Closed"]);

      const [backlog] = (
        await server.db.knex.raw(
          `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
             count(*) FILTER (WHERE status = 'pending' AND attempts > 0)::int AS retrying,
             count(*) FILTER (WHERE status = 'failed')::int AS failed
           FROM "${server.db.schema}"."outbox"`,
        )
      ).rows as { pending: number; retrying: number; failed: number }[];
      const { pending, retrying, failed } = backlog!;
      expect(pending).toBeGreaterThan(0);
      expect(await console.attentionCount(/Notifications to the upstream pending/)).toBe(pending);
      const outboxCard = console.page
        .locator(".card")
        .filter({ hasText: /Notifications to the upstream pending/ });
      expect(await outboxCard.textContent()).toContain(`${retrying} failing, ${failed} given up`);
      await console.screenshot("overview");
      await console.close();
    });

    it("sees each account's own limits: full, partly used, idle; none for an account without", async () => {
      const console = await ConsolePage.open(browser, server.url);
      await console.signIn(server.tokens.viewer);
      const table = console.page.getByRole("table", { name: "Account limits (all nodes)" });
      await table.waitFor();
      expect(await table.getByRole("columnheader").allInnerTexts()).toEqual([
        "Channel",
        "Account",
        "Limiter saturation",
      ]);
      const rows: string[][] = [];
      for (const row of await table.locator("tbody tr").all()) {
        rows.push((await row.locator("th, td").allInnerTexts()).map((cell) => cell.trim()));
      }
      const { "shop-a": a, "shop-b": b, "shop-c": c } = accountLimits;
      expect(rows).toEqual([
        ["lanbank", "shop-a", `100.0% · ${a.calls}/${a.concurrency} in flight`],
        ["lanbank", "shop-b", `40.0% · ${b.calls}/${b.rate.limit} per 1 h`],
        ["lanbank", "shop-c", `0.0% · ${c.calls}/${c.concurrency} in flight`],
      ]);
      const meter = (account: string) =>
        table
          .getByRole("meter", { name: `Limiter saturation lanbank ${account}` })
          .evaluate((element) => (element as unknown as { value: number }).value);
      expect([await meter("shop-a"), await meter("shop-b"), await meter("shop-c")]).toEqual([
        1, 0.4, 0,
      ]);
      await console.close();
    });

    it("reads the same in Chinese", async () => {
      const console = await ConsolePage.open(browser, server.url, "zh-CN");
      await console.page.getByLabel("API 令牌").fill(server.tokens.viewer);
      await console.page.getByRole("button", { name: "登录" }).click();
      const table = console.page.getByRole("table", { name: /资方接口健康/ });
      await table.waitFor();
      expect(await table.getByRole("columnheader").allInnerTexts()).toContain("熔断器");
      const query = await table
        .getByRole("row", { name: /lanbank credit\.query/ })
        .getByRole("cell")
        .allInnerTexts();
      expect(query[4]).toMatch(/^打开（熔断中） 1 个节点/);
      const apply = await table
        .getByRole("row", { name: /lanbank credit\.apply/ })
        .getByRole("cell")
        .allInnerTexts();
      expect(apply[5]).toContain("并发 8/8");
      const accounts = console.page.getByRole("table", { name: "账户限流（全部节点）" });
      expect(
        await accounts
          .getByRole("row", { name: /lanbank shop-b/ })
          .getByRole("cell")
          .allInnerTexts(),
      ).toEqual(["shop-b", expect.stringContaining("每 1 小时 2/5")]);
      await console.close();
    });
  },
);
