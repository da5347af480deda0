import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleAssetsDir } from "../src/index.ts";
import { chromiumMissing, ensureConsoleBuilt, launchChromium } from "./support/browser.ts";

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
};

/** The built files alone, as a plain static server would serve them (no operator API behind). */
async function serveFiles(): Promise<{ server: Server; url: string }> {
  const root = consoleAssetsDir();
  const server = createServer(async (request, response) => {
    const path = normalize(
      new URL(request.url ?? "/", "http://x").pathname.replace(/^\/console\/?/, ""),
    );
    const file = join(root, path === "." || path === "" ? "index.html" : path);
    try {
      const body = await readFile(file);
      response.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/console/` };
}

describe.skipIf(chromiumMissing)("the console's sign-in page, in a browser", () => {
  let browser: Browser;
  let files: { server: Server; url: string };
  let page: Page;

  beforeAll(async () => {
    await ensureConsoleBuilt();
    [browser, files] = await Promise.all([launchChromium(), serveFiles()]);
    page = await browser.newPage({ locale: "en-US" });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => files?.server.close(resolve));
  });

  it("asks for a token, in the browser's language, with labelled fields", async () => {
    await page.goto(files.url);
    await expect.poll(() => page.title()).toBe("capflow console");
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Sign in");
    expect(await page.getByLabel("API token").getAttribute("type")).toBe("password");
    expect(await page.getByRole("button", { name: "Sign in" }).isDisabled()).toBe(true);
  });

  it("switches to Chinese from the keyboard and remembers it", async () => {
    await page.getByLabel("Language").focus();
    await page.keyboard.press("ArrowUp"); // 中文 is listed first
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("登录");
    expect(await page.locator("html").getAttribute("lang")).toBe("zh-CN");
    await page.reload();
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("登录");
    expect(await page.getByLabel("API 令牌").count()).toBe(1);
  });

  it("says so when the token is refused, without leaving the page", async () => {
    await page.getByLabel("API 令牌").fill("not-a-token");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("令牌无效");
  });
});
