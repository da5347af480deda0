import { issueOperatorToken } from "@capflow/server";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumMissing, ensureConsoleBuilt, launchChromium } from "./support/browser.ts";
import { ConsolePage } from "./support/console-page.ts";
import {
  type ConsoleServer,
  databaseMissing,
  startConsoleServer,
} from "./support/console-server.ts";

const refusedSentence =
  "The server refused the token you were signed in with (revoked or unknown): sign in with another.";

/**
 * A token revoked while the console is signed in with it, in headless Chromium against capflow's
 * server on PostgreSQL: the next request's 401 takes the tab back to the sign-in screen with a
 * sentence saying why, the token is dropped and nothing more is asked; a form being filled in
 * waits behind and comes back as it was after signing in with another token. The Tokens page
 * shows when each token was last used.
 */
describe.skipIf(chromiumMissing ?? databaseMissing)("a token refused while signed in", () => {
  let server: ConsoleServer;
  let browser: Browser;

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [server, browser] = await Promise.all([startConsoleServer(), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const makeAdmin = async (name: string) =>
    issueOperatorToken(server.db.operatorTokens, {
      name,
      role: "admin",
      reason: "console tests of a refused token",
    });
  const revoke = async (id: string) => {
    const answer = await fetch(`${server.url}/v1/ops/tokens/${id}/revoke`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${server.tokens.admin}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ reason: "rotated during the console test" }),
    });
    expect(answer.status).toBe(200);
  };
  const storedToken = (console: ConsolePage) =>
    console.page.evaluate(`sessionStorage.getItem("capflow.console.token")`);

  it("the next page after a revocation shows the sign-in screen with the reason, and asks nothing more", async () => {
    const { token, record } = await makeAdmin("night-shift");
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(token);
    await console.goTo("Definitions");
    await revoke(record.id);

    const asked: string[] = [];
    console.page.on("request", (request) => {
      if (request.url().includes("/v1/ops/")) asked.push(request.url());
    });
    await console.page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Overview" })
      .click();
    await console.page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    const notice = console.page.locator(".login .notice");
    expect(await notice.textContent()).toContain(refusedSentence);
    expect(await storedToken(console)).toBeNull();
    expect(await console.page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
    // The page that failed with the refused token waits hidden, not shown as "Could not load".
    expect(
      await console.page
        .getByText(/^Could not load/)
        .first()
        .isVisible(),
    ).toBe(false);

    // No loop: once refused, the tab asks the server nothing until someone signs in.
    const afterRefusal = asked.length;
    expect(afterRefusal).toBeGreaterThan(0);
    await console.page.waitForTimeout(1_500);
    expect(asked.length).toBe(afterRefusal);

    await console.signIn(server.tokens.operator);
    expect(await console.page.getByText("Signed in as wang.operator (operator)").count()).toBe(1);
    expect(await console.page.locator(".login").count()).toBe(0);
    await console.close();
  });

  it("a refresh with a revoked token opens the sign-in screen with the reason", async () => {
    const { token, record } = await makeAdmin("day-shift");
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(token);
    await revoke(record.id);
    await console.page.reload();
    await console.page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    expect(await console.page.locator(".login .notice").textContent()).toBe(refusedSentence);
    expect(await storedToken(console)).toBeNull();
    await console.close();
  });

  it("what was typed in a form comes back after signing in with another token; last use is listed", async () => {
    const { token, record } = await makeAdmin("evening-shift");
    const console = await ConsolePage.open(browser, server.url);
    await console.signIn(token);
    await console.openTokens();
    const form = console.page.getByRole("region", { name: "Make a token" });
    await form.getByLabel("Name (who or what uses it)").fill("batch-7");
    await form.getByLabel("Role").selectOption("operator");
    await form.getByLabel("Why (kept with the token").fill("nightly exports to the ledger");
    await revoke(record.id);
    await form.getByRole("button", { name: "Make the token" }).click();

    await console.page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    expect(await console.page.locator(".login .notice").textContent()).toBe(
      `${refusedSentence} The page you were on, and what you typed in it, comes back then.`,
    );
    await console.signIn(server.tokens.admin);
    await console.page.getByRole("heading", { level: 1, name: "Operator tokens" }).waitFor();
    expect(await form.getByLabel("Name (who or what uses it)").inputValue()).toBe("batch-7");
    expect(await form.getByLabel("Role").inputValue()).toBe("operator");
    expect(await form.getByLabel("Why (kept with the token").inputValue()).toBe(
      "nightly exports to the ledger",
    );
    // The listing is asked again with the new token: the revoked one shows as revoked.
    await expect
      .poll(async () => (await console.tokenRows())["evening-shift"]?.[2])
      .toMatch(/rotated during the console test$/);

    await form.getByRole("button", { name: "Make the token" }).click();
    await console.page.getByRole("region", { name: /^New token for batch-7/ }).waitFor();
    // The listing that follows the make may still be on its way.
    await expect.poll(async () => (await console.tokenRows())["batch-7"]?.[3]).toBe("none noted");
    const rows = await console.tokenRows();
    // Name, role, made, revoked, last used.
    expect(rows["zhao.admin"]?.[3]).toMatch(/\d/);
    expect(rows["evening-shift"]?.[3]).toMatch(/\d/);
    expect(rows["batch-7"]?.[3]).toBe("none noted");
    expect(await console.page.getByText("Last used is noted to the minute").count()).toBe(1);
    await console.close();
  });
});
