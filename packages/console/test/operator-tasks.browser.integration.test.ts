import { FlowControl, type FlowTicket } from "@capflow/core";
import { flowRequestFor } from "@capflow/core/internal";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, ensureConsoleBuilt, launchChromium } from "./support/browser.ts";
import { ConsolePage } from "./support/console-page.ts";
import {
  type ConsoleServer,
  databaseMissing,
  fixtureKeys,
  startConsoleServer,
} from "./support/console-server.ts";
import { routeWithFailover } from "./support/routing-fixture.ts";

/**
 * The console in headless Chromium against capflow's server on PostgreSQL, with Lan Bank's
 * credit applications run through the engine against its mock funder.
 */
describe.skipIf(chromiumMissing ?? databaseMissing)("an operator in the console", () => {
  let server: ConsoleServer;
  let browser: Browser;
  const stuckKey = fixtureKeys.stuck[0];

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("signs in with a token and sees what needs attention", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    expect(await console.heading()).toBe("Overview");
    expect(await console.attentionCount(/Stuck past the SLA/)).toBe(fixtureKeys.stuck.length);
    expect(await console.attentionCount(/Manual review/)).toBe(fixtureKeys.manual.length);
    const row = console.page.getByRole("row", { name: /^lanbank credit \d/ });
    expect(await row.textContent()).toContain(String(fixtureKeys.approved.length));

    await console.goTo("Definitions");
    await console.page.getByRole("link", { name: "Show graph" }).first().click();
    await console.page.getByRole("img", { name: "lanbank/credit v1" }).waitFor();
    await console.screenshot("definitions");
    await console.close();
  });

  it("finds a stuck application by business key, reads its timeline, moves it with a reason and sees the history", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    await console.goTo("Instances");
    await console.page.getByLabel("Status").selectOption("unsettled");
    await console.page.getByRole("button", { name: "Search" }).click();
    await console.page.getByRole("link", { name: stuckKey, exact: true }).waitFor();
    await console.screenshot("search");

    await console.findByBusinessKey(stuckKey);
    expect(await console.currentStep()).toBe("awaitResult");
    const timeline = await console.timeline();
    expect(timeline.some((line) => line.includes("apply → awaitResult"))).toBe(true);
    // Masked as the channel says: no ID-card or phone number in clear anywhere on the page.
    const text = (await console.page.textContent("body")) ?? "";
    expect(text).not.toMatch(/11010119900307\d{4}/);

    const preview = await console.previewAction(
      "Move to a step",
      "funder confirmed by phone: ask again now",
      "queryResult",
    );
    expect(preview.join("\n")).toContain("From awaitResult (waiting)");
    expect(preview.join("\n")).toContain("To queryResult (waiting)");
    await console.screenshot("instance");
    await console.confirmAction();

    await expect.poll(() => console.currentStep()).toBe("queryResult");
    await expect
      .poll(() => console.actorLines())
      .toEqual([
        expect.stringContaining("wang.operator — funder confirmed by phone: ask again now"),
      ]);
    const history = await server.engine.history(
      (await server.engine.findInstance({
        channel: "lanbank",
        behavior: "credit",
        businessKey: stuckKey,
      }))!.id,
    );
    expect(history.at(-1)).toMatchObject({
      event: "operator",
      actor: { who: "wang.operator", why: "funder confirmed by phone: ask again now" },
      toStep: "queryResult",
    });
    await console.close();
  });

  it("re-sends a notification the upstream lost, sees who re-sent it and why, and is told when there was nothing to re-send", async () => {
    // Delivered, as a dispatcher would: re-sending one still waiting for its first attempt
    // changes and records nothing.
    const outbox = server.db.instances;
    const now = server.clock.now();
    for (const claimed of await outbox.claimNotifications({
      owner: "console-test",
      now,
      leaseMs: 60_000,
      limit: 1_000,
    })) {
      await outbox.recordDelivery({ id: claimed.id, owner: "console-test", now, delivered: true });
    }
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    await console.findByBusinessKey(fixtureKeys.approved[0]);
    const resent = await console.resendNotification(/instance\.succeeded/, "upstream lost it");
    expect(resent).toContain("Re-sent");
    await expect
      .poll(() => console.actorLines())
      .toContainEqual(expect.stringContaining("wang.operator — upstream lost it"));
    // The row says who re-sent it, when and why.
    await expect
      .poll(() => console.notificationRows())
      .toContainEqual(
        expect.stringMatching(/instance\.succeeded.*wang\.operator, .+: upstream lost it/s),
      );
    const actorLines = await console.actorLines();

    // Re-sent and not attempted since: due already, so nothing is re-sent, and the page says so.
    const again = await console.resendNotification(/instance\.succeeded/, "still not there");
    expect(again).toBe(
      "Nothing re-sent: this notification is still waiting for its first delivery attempt, which is due now. Nothing was changed or recorded.",
    );
    expect(again).not.toContain("Done");
    expect(await console.actorLines()).toEqual(actorLines);
    expect(await console.notificationRows()).not.toContainEqual(
      expect.stringContaining("still not there"),
    );
    await console.close();
  });

  it("lets a viewer look but not act", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.viewer);
    await console.findByBusinessKey(fixtureKeys.stuck[1]);
    expect(await console.actionsText()).toContain("Your role (viewer) can look but not act.");
    expect(await console.page.getByRole("button", { name: "What will happen" }).count()).toBe(0);
    // The API refuses a viewer's action whatever the page shows.
    const instance = await server.engine.findInstance({
      channel: "lanbank",
      behavior: "credit",
      businessKey: fixtureKeys.stuck[1],
    });
    const refused = await console.page.evaluate(
      async ([id, token]) => {
        const response = await fetch(`/v1/ops/instances/${id}/cancel`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ reason: "not mine to cancel", expectedVersion: 1 }),
        });
        return response.status;
      },
      [instance!.id, server.tokens.viewer] as const,
    );
    expect(refused).toBe(403);
    expect((await server.engine.getInstance(instance!.id))?.status).toBe("waiting");
    await console.close();
  });

  it("sees an application the funder's limit held back as one timeline entry counting the refusals", async () => {
    const key = "CR-5001";
    const instance = await server.start(key);
    // Another node's calls in flight take credit.apply's whole concurrency (8).
    const otherNode = new FlowControl({ limiter: server.flow.limiter, node: "worker-2" });
    const channel = (await server.db.definitions.getChannel("lanbank"))!.definition;
    const apply = { ...flowRequestFor(channel, "credit.apply"), bulkhead: 100 };
    const held: FlowTicket[] = [];
    for (let i = 0; i < 8; i++) {
      const entry = await otherNode.enter(apply);
      if (entry.admitted) held.push(entry.ticket);
    }
    expect(held).toHaveLength(8);
    try {
      for (let n = 0; n < 3; n++) {
        await server.engine.runDue();
        server.clock.advance(2_000);
      }
      expect((await server.engine.getInstance(instance.id))?.refusals?.count).toBe(3);

      const console = await ConsolePage.open(browser, server.url);
      await console.signIn(server.tokens.viewer);
      await console.findByBusinessKey(key);
      expect(await console.refusalLines()).toEqual([
        expect.stringMatching(
          /^Not sent: flow control refused the call 3 times \(concurrency limit\), the last at .+\. Still refused: the step is tried again until the call goes out\.$/,
        ),
      ]);
      await console.screenshot("instance-refused");

      for (const ticket of held.splice(0)) await ticket.complete("not-sent");
      await server.engine.runDue();
      expect((await server.engine.getInstance(instance.id))?.step).toBe("awaitResult");
      await console.page.reload();
      await console.page.getByRole("heading", { level: 1, name: `Instance ${key}` }).waitFor();
      const timeline = await console.timeline();
      expect(timeline[0]).toContain("notAdmitted:concurrency");
      expect(timeline.at(-1)).toContain("apply → awaitResult");
      expect(await console.refusalLines()).toEqual([
        expect.stringMatching(
          /^Not sent: flow control refused the call 3 times \(concurrency limit\), the last at .+\.$/,
        ),
      ]);
      await console.close();

      const chinese = await ConsolePage.open(browser, server.url, "zh-CN");
      await chinese.page.getByLabel("API 令牌").fill(server.tokens.viewer);
      await chinese.page.getByRole("button", { name: "登录" }).click();
      await chinese.page.getByRole("heading", { level: 1, name: "总览" }).waitFor();
      await chinese.page.goto(`${server.url}/console/#/instances/${instance.id}`);
      await expect
        .poll(() => chinese.refusalLines())
        .toEqual([expect.stringMatching(/^未发送：流控拒绝了 3 次（并发上限），最后一次在 .+。$/)]);
      await chinese.close();
    } finally {
      for (const ticket of held) await ticket.complete("not-sent");
    }
  });

  it("sees how a credit application was routed, declined by one funder and approved by the next, in English and Chinese", async () => {
    const key = fixtureKeys.declinedOnce[0];
    const { declined, approved } = await routeWithFailover(server, key);
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.viewer);
    await console.openInstance(server.url, approved.id, `Instance ${key}`);
    const ineligible = [
      "lanbank-north",
      "credit",
      "1",
      "not eligible",
      "when double(input.amount) > 1000000.0 is false",
    ];
    const atEast = await console.routing();
    expect(atEast.facts).toEqual([
      "Product: credit-line",
      "Chosen by: weighted round robin",
      "Amount counted: 50,000.00",
      "Failed over from: lanbank (failed)",
      "This business: lanbank (failed) lanbank-east (succeeded)",
    ]);
    expect(atEast.candidates).toEqual([
      ["lanbank", "credit", "2", "tried before", ""],
      ["lanbank-east", "credit", "1", "chosen", ""],
      ineligible,
    ]);
    expect(atEast.quotas).toEqual([]);
    // Routing shows no input: the application's ID-card number is nowhere in clear.
    const text = (await console.page.textContent("body")) ?? "";
    expect(text).not.toMatch(/11010119900307\d{4}/);
    await console.screenshot("instance-routing");

    await console.followFailover("from");
    const day = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(
      declined.createdAt,
    );
    await expect
      .poll(() => console.routing())
      .toEqual({
        facts: [
          "Product: credit-line",
          "Chosen by: weighted round robin",
          "Amount counted: 50,000.00",
          "Failed over to: lanbank-east (succeeded)",
          "This business: lanbank (failed) lanbank-east (succeeded)",
        ],
        candidates: [
          ["lanbank", "credit", "2", "chosen", ""],
          ["lanbank-east", "credit", "1", "not needed (ranked after the chosen one)", ""],
          ineligible,
        ],
        // Declined: its hold on Lan Bank's daily quota was given back.
        quotas: [
          [
            "product:credit-line/lanbank",
            day,
            "50,000.00 · released",
            "0.00 of 200,000.00 · 0 of 100 starts",
          ],
        ],
      });
    await console.close();

    const chinese = await ConsolePage.open(browser, server.url, "zh-CN");
    await chinese.page.getByLabel("API 令牌").fill(server.tokens.viewer);
    await chinese.page.getByRole("button", { name: "登录" }).click();
    await chinese.page.getByRole("heading", { level: 1, name: "总览" }).waitFor();
    await chinese.openInstance(server.url, approved.id, `实例 ${key}`);
    await chinese.page.getByRole("heading", { level: 2, name: "资方路由" }).waitFor();
    const zh = await chinese.routing();
    expect(zh.facts).toContain("故障转移自: lanbank（失败）");
    expect(zh.facts).toContain("选择规则: 加权轮询");
    expect(zh.candidates.map((row) => row[3])).toEqual(["之前已尝试", "选中", "不符合条件"]);
    await chinese.close();
  });

  it("is not offered a move of an application that failed over: the preview says where it went", async () => {
    const key = fixtureKeys.declinedOnce[0];
    const business = await server.engine.listInstances({
      product: "credit-line",
      businessKey: key,
    });
    const { declined, approved } =
      business.length === 2
        ? {
            declined: business.find((i) => i.failoverOf === null)!,
            approved: business.find((i) => i.failoverOf !== null)!,
          }
        : await routeWithFailover(server, key);
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    await console.openInstance(server.url, declined.id, `Instance ${key}`);
    const preview = await console.previewAction(
      "Move to a step",
      "Lan Bank would approve it now",
      "apply",
    );
    expect(preview.join("\n")).toContain(
      `instance ${declined.id} failed over to ${approved.id}: its business goes on there, and a move would run this one again beside it; act on ${approved.id} instead`,
    );
    expect(await console.page.getByRole("button", { name: "Do it" }).isDisabled()).toBe(true);
    expect(await server.engine.getInstance(declined.id)).toMatchObject({
      version: declined.version,
      status: "failed",
    });
    await console.close();
  });

  it("speaks Chinese when asked, dates in the channel's time zone", async () => {
    const console = await ConsolePage.open(browser, server.url, "zh-CN");
    await console.page.getByLabel("API 令牌").fill(server.tokens.viewer);
    await console.page.getByRole("button", { name: "登录" }).click();
    await console.page.getByRole("heading", { level: 1, name: "总览" }).waitFor();
    await console.page.getByRole("heading", { name: "待处理" }).waitFor();
    await console.page.goto(
      `${server.url}/console/#/instances?businessKey=${fixtureKeys.approved[0]}`,
    );
    await console.page.getByRole("link", { name: fixtureKeys.approved[0] }).click();
    await console.page.getByText("时间按 Asia/Shanghai 显示").waitFor();
    await console.screenshot("instance-zh-CN");
    await console.close();
  });
  /** A loan whose `apply` call was sent and never answered: its outcome is unknown, it is held. */
  const parkLoan = async (key: string) => {
    const started = await server.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: key,
      input: server.input(key),
    });
    const now = server.clock.now();
    const serial = `LBL-${key}-1`;
    const parked = await server.db.instances.commitTransition({
      instanceId: started.id,
      expectedVersion: started.version,
      now,
      changes: {
        attempt: 1,
        nextRunAt: null,
        inFlight: { step: "apply", attempt: 1, serial, startedAt: now },
        lastError: {
          code: "TRANSPORT_UNKNOWN_OUTCOME",
          message: "loan.apply sent; no answer before the timeout",
        },
      },
    });
    return { started, parked, serial };
  };

  it("confirms the funder never processed a parked loan's payout call, and moves it back to send it again", async () => {
    const key = "LN-7001";
    const { started, parked, serial } = await parkLoan(key);

    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    await console.findByBusinessKey(key);
    const reason = "Lan Bank ops confirmed by phone they never received it";
    const refused = await console.previewAction("Move to a step", reason, "apply");
    expect(refused.join("\n")).toContain(`serial ${serial}) may have reached the partner`);
    expect(await console.canConfirm()).toBe(false);

    const vouched = await console.confirmFunderDidNotProcess();
    expect(vouched.join("\n")).toContain(
      "confirmed that the partner did not process it: apply sends the call again, with a new serial",
    );
    await console.confirmAction();
    await expect
      .poll(() => console.actorLines())
      .toContainEqual(
        expect.stringContaining(
          `wang.operator — ${reason} (confirmed the funder did not process the call)`,
        ),
      );
    const moved = await server.engine.getInstance(started.id);
    expect(moved).toMatchObject({ step: "apply", inFlight: null, version: parked.version + 1 });
    expect((await server.engine.history(started.id)).at(-1)).toMatchObject({
      event: "operator",
      outcome: "moveTo:apply",
      actor: { who: "wang.operator", why: reason, confirmed: "callNotProcessed" },
    });
    await console.close();
  });
  it("forgets a confirmation that the funder did not process a call when the operator opens another instance", async () => {
    const first = await parkLoan("LN-7002");
    const second = await parkLoan("LN-7003");

    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.operator);
    await console.openInstance(server.url, first.started.id, "Instance LN-7002");
    await console.previewAction(
      "Move to a step",
      "Lan Bank confirmed LN-7002 never arrived",
      "apply",
    );
    await console.confirmFunderDidNotProcess();

    // The same page, another instance: nothing vouched for the first may act on it.
    await console.openInstance(server.url, second.started.id, "Instance LN-7003");
    const preview = console.page.getByRole("region", { name: "What will happen" });
    expect(await preview.count()).toBe(0);
    expect(await console.page.getByRole("checkbox").count()).toBe(0);
    expect(await console.page.getByRole("button", { name: "Do it" }).count()).toBe(0);
    expect(await server.engine.getInstance(second.started.id)).toMatchObject({
      version: second.parked.version,
      inFlight: { serial: second.serial },
    });
    await console.close();
  });
});
