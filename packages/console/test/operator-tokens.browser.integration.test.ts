import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, ensureConsoleBuilt, launchChromium } from "./support/browser.ts";
import { ConsolePage } from "./support/console-page.ts";
import {
  type ConsoleServer,
  databaseMissing,
  startConsoleServer,
} from "./support/console-server.ts";

/**
 * Operator tokens in the console, in headless Chromium against capflow's server on PostgreSQL:
 * an admin makes one and sees its secret once, lists and revokes it with a reason; the server's
 * refusals of a reason are shown as sent; a viewer is not offered the page and is told why.
 */
describe.skipIf(chromiumMissing ?? databaseMissing)("operator tokens in the console", () => {
  let server: ConsoleServer;
  let browser: Browser;
  let secret = "";

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("an admin makes a token and sees its secret once, with a warning and a copy button", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await console.signIn(server.tokens.admin);
    expect(await console.navigation()).toContain("Tokens");
    await console.openTokens();

    const made = await console.makeToken("ci-deploy", "operator", "deploys from the CI pipeline");
    if (!("secret" in made)) throw new Error(`refused: ${made.refused}`);
    secret = made.secret;
    expect(secret).toMatch(/^cfo_[A-Za-z0-9_-]{43}$/);
    expect(made.warning).toContain("it will not be shown again");
    expect(await console.copyNewSecret()).toBe("Copied to the clipboard.");
    expect(await console.page.evaluate("navigator.clipboard.readText()")).toBe(secret);

    // The listing that follows the make may still be on its way.
    await expect.poll(async () => (await console.tokenRows())["ci-deploy"]?.[2]).toBe("in use");
    const rows = await console.tokenRows();
    expect(rows["ci-deploy"]?.[0]).toBe("operator");
    expect(rows["ci-deploy"]?.[1]).toMatch(/^zhao\.admin, .+: deploys from the CI pipeline$/);
    expect(rows["ci-deploy"]?.[2]).toBe("in use");

    // Until it is confirmed copied, nothing replaces it and leaving asks first.
    const make = console.page.getByRole("button", { name: "Make the token" });
    expect(await make.isDisabled()).toBe(true);
    const asked: string[] = [];
    console.page.once("dialog", (dialog) => {
      asked.push(dialog.message());
      void dialog.dismiss();
    });
    await console.page.getByRole("link", { name: "Instances" }).click();
    expect(asked).toEqual([expect.stringContaining("may also remain in the system clipboard")]);
    expect(console.page.url()).toMatch(/#\/tokens$/);
    expect(await console.holdsSecret(secret)).toBe(true);
    const unload = new Promise<string>((resolve) =>
      console.page.once("dialog", (dialog) => {
        resolve(dialog.type());
        void dialog.dismiss();
      }),
    );
    await console.page.close({ runBeforeUnload: true });
    expect(await unload).toBe("beforeunload");
    expect(await console.holdsSecret(secret)).toBe(true);

    await console.hideNewSecret();
    expect(await console.holdsSecret(secret)).toBe(false);
    expect(await make.isDisabled()).toBe(false);
    await console.page.reload();
    await console.page.getByRole("heading", { level: 1, name: "Operator tokens" }).waitFor();
    await console.page.locator("table.tokens").waitFor();
    expect(await console.holdsSecret(secret)).toBe(false);
    expect(await console.page.content()).not.toContain(secret);
    expect(
      await console.page.evaluate("JSON.stringify({ ...sessionStorage, ...localStorage })"),
    ).not.toContain(secret);
    await console.close();

    // The secret works: whoever was given it signs in with its role.
    const deploy = await ConsolePage.open(browser, server.url);
    await deploy.signIn(secret);
    expect(await deploy.page.getByText("Signed in as ci-deploy (operator)").count()).toBe(1);
    expect(await deploy.navigation()).not.toContain("Tokens");
    await deploy.close();
  });

  it("keeps the new secret on screen when the list fails to load again after the make", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.admin);
    await console.openTokens();
    // Once the token is made, the gateway fails the listing that follows.
    let made = false;
    await console.page.route("**/v1/ops/tokens", async (route) => {
      if (route.request().method() === "POST") {
        const answer = await route.fetch();
        made = answer.ok();
        return route.fulfill({ response: answer });
      }
      if (made) return route.fulfill({ status: 502, body: "Bad Gateway" });
      return route.continue();
    });
    // The listing after the make: the page's first listing may still be on its way.
    const relisted = console.page.waitForResponse(
      (r) => made && r.url().endsWith("/v1/ops/tokens") && r.request().method() === "GET",
    );
    const issued = await console.makeToken("report-job", "viewer", "nightly report export");
    if (!("secret" in issued)) throw new Error(`refused: ${issued.refused}`);
    expect((await relisted).status()).toBe(502);
    await console.page.locator("p.error[role=alert]").waitFor();
    expect(await console.page.locator("table.tokens").count()).toBe(0);
    expect(await console.page.locator("#new-secret").count()).toBe(1);
    expect(await console.page.getByLabel("The new token").inputValue()).toBe(issued.secret);
    expect(issued.secret).toMatch(/^cfo_/);

    await console.page.unroute("**/v1/ops/tokens");
    await console.hideNewSecret();
    expect(await console.holdsSecret(issued.secret)).toBe(false);
    await console.close();
  });

  it("shows the server's refusal of a reason, and makes or revokes nothing", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.admin);
    await console.openTokens();

    const pasted = await console.makeToken(
      "night-batch",
      "viewer",
      `replaces ${server.tokens.viewer.toUpperCase()}`,
    );
    expect(pasted).toEqual({
      refused: expect.stringMatching(
        /^Refused: the reason holds what looks like an operator token .*name the token by its id or name instead/,
      ),
    });
    expect(Object.keys(await console.tokenRows())).not.toContain("night-batch");

    const multiline = await console.revokeToken("ci-deploy", "leaked\nin a build log");
    expect(multiline.answer).toMatch(/^Refused: the reason holds a control character/);
    expect((await console.tokenRows())["ci-deploy"]?.[2]).toBe("in use");
    await console.close();
  });

  it("an admin revokes a token with a reason after a confirmation, and it stops working", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.admin);
    await console.openTokens();
    const revoked = await console.revokeToken("ci-deploy", "the pipeline moved to SSO");
    expect(revoked.confirmation).toContain("Revoke ci-deploy (operator)?");
    expect(revoked.confirmation).toContain("This cannot be undone");
    expect(revoked.confirmation).toContain("Reason: the pipeline moved to SSO");
    expect(revoked.answer).toBe("Revoked ci-deploy: it is refused from its next request.");
    await expect
      .poll(async () => (await console.tokenRows())["ci-deploy"]?.[2])
      .toMatch(/^zhao\.admin, .+: the pipeline moved to SSO$/);
    expect(
      await console.page.getByRole("button", { name: "Revoke ci-deploy", exact: true }).count(),
    ).toBe(0);
    await console.screenshot("tokens");
    await console.close();

    const deploy = await ConsolePage.open(browser, server.url);
    await deploy.page.getByLabel("API token").fill(secret);
    await deploy.page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => deploy.page.getByRole("alert").textContent()).toContain("refused");
    await deploy.close();
  });

  it("a viewer is not offered the page, and opening it says who may manage tokens", async () => {
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(server.tokens.viewer);
    expect(await console.navigation()).toEqual(["Overview", "Instances", "Definitions"]);

    const refused = console.page.waitForResponse((r) => r.url().endsWith("/v1/ops/tokens"));
    await console.page.goto(`${server.url}/console/#/tokens`);
    expect((await refused).status()).toBe(403);
    const notice = console.page.locator(".notice");
    await notice.waitFor();
    expect(await notice.textContent()).toBe(
      "Only admins manage tokens. You are signed in as li.viewer (viewer): ask an admin, or use capflow tokens on the server.",
    );
    expect(await console.page.locator("table.tokens").count()).toBe(0);
    expect(await console.page.getByRole("region", { name: "Make a token" }).count()).toBe(0);
    await console.close();
  });
});
