import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { expect } from "vitest";

/**
 * The console as an operator uses it, one method per thing they do, so tests read like their task
 * ("signs in, finds the loan by business key, moves it") rather than selectors.
 */
export class ConsolePage {
  private constructor(readonly page: Page) {}

  static async open(browser: Browser, baseUrl: string, locale = "en-US"): Promise<ConsolePage> {
    const context = await browser.newContext({
      locale,
      timezoneId: "Europe/Paris",
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console/`);
    return new ConsolePage(page);
  }

  async signIn(token: string): Promise<void> {
    await this.page.getByLabel("API token").fill(token);
    await this.page.getByRole("button", { name: "Sign in" }).click();
    await this.page.getByRole("navigation", { name: "Main" }).waitFor();
  }

  async heading(): Promise<string> {
    return (await this.page.getByRole("heading", { level: 1 }).textContent()) ?? "";
  }

  async goTo(
    page: "Overview" | "Instances" | "Definitions" | "Tokens",
    title: string = page,
  ): Promise<void> {
    await this.page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: page })
      .click();
    await this.page.getByRole("heading", { level: 1, name: title }).waitFor();
  }

  /** The main navigation's entries, as shown. */
  async navigation(): Promise<string[]> {
    return this.page.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
  }

  /** Opens the tokens page from the navigation (admins only see the entry). */
  async openTokens(): Promise<void> {
    await this.goTo("Tokens", "Operator tokens");
  }

  /**
   * Makes a token with a name, a role and a reason: the new secret panel once made, or the
   * refusal the page shows.
   */
  async makeToken(
    name: string,
    role: "viewer" | "operator" | "admin",
    reason: string,
  ): Promise<{ secret: string; warning: string } | { refused: string }> {
    const form = this.page.getByRole("region", { name: "Make a token" });
    await form.getByLabel("Name (who or what uses it)").fill(name);
    await form.getByLabel("Role").selectOption(role);
    await form.getByLabel("Why (kept with the token").fill(reason);
    await form.getByRole("button", { name: "Make the token" }).click();
    const secret = this.#newSecret();
    const refusal = form.getByRole("alert");
    await secret.or(refusal).first().waitFor();
    if (await refusal.isVisible()) return { refused: (await refusal.textContent()) ?? "" };
    return {
      secret: await secret.getByLabel("The new token").inputValue(),
      warning: (await secret.locator(".secret-warning").textContent()) ?? "",
    };
  }

  /** Presses Copy beside the new secret: what the page says then. */
  async copyNewSecret(): Promise<string> {
    const secret = this.#newSecret();
    await secret.getByRole("button", { name: "Copy" }).click();
    const status = secret.getByRole("status");
    await status.waitFor();
    return (await status.textContent()) ?? "";
  }

  /** Says the new secret is copied, and waits until the panel no longer shows. */
  async hideNewSecret(): Promise<void> {
    await this.#newSecret().getByRole("button", { name: "I have copied it" }).click();
    await this.#newSecret().waitFor({ state: "hidden" });
  }

  /** Whether the page still holds `secret` anywhere: the new secret field, or any field's value. */
  async holdsSecret(secret: string): Promise<boolean> {
    if ((await this.page.locator("#new-secret").count()) > 0) return true;
    // Every field's value, read in the page: values are properties, absent from the markup.
    const values = await this.page
      .locator("input, textarea")
      .evaluateAll((fields) =>
        fields.map((field) => (field as unknown as { value: string }).value),
      );
    return values.includes(secret);
  }

  #newSecret() {
    return this.page.getByRole("region", { name: /^New token for/ });
  }

  /** The tokens listed, one line of cells per token (name and id, role, made, revoked). */
  async tokenRows(): Promise<Record<string, string[]>> {
    const rows: Record<string, string[]> = {};
    for (const row of await this.page.locator("table.tokens tbody tr").all()) {
      const [name = "", ...cells] = await row.locator("th, td").allInnerTexts();
      rows[name.split("\n")[0]!.trim()] = cells.map((cell) => cell.trim());
    }
    return rows;
  }

  /**
   * Revokes a token with a reason: what the confirmation says before anything is sent, and what
   * the page answers once confirmed (or the refusal, when the reason is refused).
   */
  async revokeToken(
    name: string,
    reason: string,
  ): Promise<{ confirmation: string; answer: string }> {
    await this.page.getByRole("button", { name: `Revoke ${name}`, exact: true }).click();
    const panel = this.page.getByRole("region", { name: `Revoke the token ${name}` });
    await panel.getByLabel("Why revoke it").fill(reason);
    await panel.getByRole("button", { name: "Continue" }).click();
    const confirm = panel.getByRole("region", { name: "Confirm the revocation" });
    const confirmation = (await confirm.textContent()) ?? "";
    await confirm.getByRole("button", { name: "Yes, revoke it" }).click();
    const answer = this.page
      .getByRole("status")
      .filter({ hasText: /^Revoked / })
      .or(panel.getByRole("alert"));
    await answer.first().waitFor();
    return { confirmation, answer: (await answer.first().textContent()) ?? "" };
  }

  /** The count shown on an attention card (`Manual review`, `Stuck past the SLA …`). */
  async attentionCount(label: RegExp): Promise<number> {
    const card = this.page.locator(".card").filter({ hasText: label });
    return Number(await card.locator(".card-count").textContent());
  }

  async findByBusinessKey(key: string): Promise<void> {
    await this.goTo("Instances");
    await this.page.getByLabel("Business key").fill(key);
    await this.page.getByRole("button", { name: "Search" }).click();
    await this.page.getByRole("link", { name: key, exact: true }).click();
    await this.page.getByRole("heading", { level: 1, name: `Instance ${key}` }).waitFor();
  }

  /** Opens an instance's page by its id (a link shared by a colleague). */
  async openInstance(baseUrl: string, id: string, title: string): Promise<void> {
    await this.page.goto(`${baseUrl}/console/#/instances/${id}`);
    await this.page.getByRole("heading", { level: 1, name: title }).waitFor();
  }

  /**
   * The instance's routing section: its facts (`Product: credit-line`, …), the channels
   * considered as rows of cells, the quotas as rows of cells; in whatever language is shown.
   */
  async routing(): Promise<{ facts: string[]; candidates: string[][]; quotas: string[][] }> {
    const section = this.page.locator("section.routing");
    await section.waitFor();
    const terms = await section.locator("dl > dt").allInnerTexts();
    const values = await section.locator("dl > dd").allInnerTexts();
    const rows = async (table: number) => {
      const found = section.locator("table").nth(table).locator("tbody tr");
      const lines: string[][] = [];
      for (const row of await found.all()) lines.push(await row.locator("th, td").allInnerTexts());
      return lines;
    };
    return {
      facts: terms.map((term, i) => `${term}: ${values[i]?.replace(/\s+/g, " ").trim()}`),
      candidates: await rows(0),
      quotas: (await section.locator("table").count()) > 1 ? await rows(1) : [],
    };
  }

  /** Follows the routing section's link to the instance the business failed over from or to. */
  async followFailover(direction: "from" | "to"): Promise<void> {
    const link = this.page
      .getByTestId(direction === "from" ? "failover-of" : "failed-over-to")
      .getByRole("link");
    const target = await link.getAttribute("href");
    await link.click();
    await this.page.waitForURL((url) => url.hash === target);
  }

  async currentStep(): Promise<string> {
    return (await this.page.getByTestId("current-step").textContent()) ?? "";
  }

  /** The timeline's entries, as `event move outcome` lines. */
  async timeline(): Promise<string[]> {
    return this.page.locator(".timeline .entry .entry-head").allInnerTexts();
  }

  /** The timeline's summaries of flow-control refusals, in words. */
  async refusalLines(): Promise<string[]> {
    return this.page.locator(".timeline .refusals").allInnerTexts();
  }

  async actorLines(): Promise<string[]> {
    return this.page.locator(".timeline .actor").allInnerTexts();
  }

  /** Chooses an action, gives the reason, asks what will happen: the preview's lines. */
  async previewAction(
    action: "Retry now" | "Move to a step" | "Cancel",
    reason: string,
    step?: string,
  ): Promise<string[]> {
    await this.page.getByRole("radio", { name: action }).check();
    if (step) await this.page.getByLabel("Target step").selectOption(step);
    await this.page.getByLabel("Reason (recorded in the history)").fill(reason);
    await this.page.getByRole("button", { name: "What will happen" }).click();
    const preview = this.page.getByRole("region", { name: "What will happen" });
    await preview.waitFor();
    return preview.locator("li").allInnerTexts();
  }

  /** Whether the preview's "Do it" may be pressed (the action would be allowed). */
  async canConfirm(): Promise<boolean> {
    const preview = this.page.getByRole("region", { name: "What will happen" });
    return preview.getByRole("button", { name: "Do it" }).isEnabled();
  }

  /**
   * Vouches, in the preview of a refused move, that the funder did not process the call whose
   * outcome is unknown: the preview's lines once asked again as the move would be sent.
   */
  async confirmFunderDidNotProcess(): Promise<string[]> {
    const preview = this.page.getByRole("region", { name: "What will happen" });
    await preview
      .getByRole("checkbox", { name: /The funder confirmed it did not process/ })
      .check();
    await expect.poll(() => this.canConfirm()).toBe(true);
    return preview.locator("li").allInnerTexts();
  }

  async confirmAction(): Promise<void> {
    await this.page.getByRole("button", { name: "Do it" }).click();
    await expect
      .poll(() => this.page.getByRole("status").filter({ hasText: "Done" }).count())
      .toBe(1);
  }

  /** The notifications sent upstream, one line per row (type, status, …, last re-send). */
  async notificationRows(): Promise<string[]> {
    return this.#notifications().locator("tbody tr").allInnerTexts();
  }

  /** Re-sends the first notification of this type with a reason: what the page answers. */
  async resendNotification(type: RegExp, reason: string): Promise<string> {
    const section = this.#notifications();
    await section
      .getByRole("row", { name: type })
      .first()
      .getByRole("button", { name: "Re-send" })
      .click();
    await section.getByLabel("Why re-send it").fill(reason);
    await section.getByRole("button", { name: "Do it" }).click();
    const answer = section.locator("[role=status], [role=alert]");
    await answer.waitFor();
    return (await answer.textContent()) ?? "";
  }

  #notifications() {
    return this.page.getByRole("region", { name: "Notifications sent upstream" });
  }

  async actionsText(): Promise<string> {
    return (await this.page.getByRole("region", { name: "Actions" }).textContent()) ?? "";
  }

  /** Saves a screenshot into docs/console/ when CAPFLOW_SCREENSHOTS is set (docs refresh). */
  async screenshot(name: string): Promise<void> {
    if (!process.env.CAPFLOW_SCREENSHOTS) return;
    const dir = fileURLToPath(new URL("../../../../docs/console/", import.meta.url));
    await mkdir(dir, { recursive: true });
    await this.page.screenshot({ path: `${dir}${name}.png`, fullPage: true });
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}
