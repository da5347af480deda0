import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { callbackRequestListener } from "../../src/engine/callback-listener.ts";
import { engineHarness } from "../support/harness.ts";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

async function serve(h: ReturnType<typeof engineHarness>): Promise<string> {
  server = createServer(callbackRequestListener(h.engine));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("callbackRequestListener", () => {
  test("hands the raw callback to the engine and writes its acknowledgement, duplicates included", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-http");
    await h.engine.runDue();
    const url = await serve(h);
    const body = JSON.stringify({ loanNo: "L-http", notifyId: "N-1", status: "SUCCESS" });
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${url}/callbacks/lanbank/loan.result`, {
        method: "POST",
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ code: "0000", message: "ok" });
    }
    await h.engine.runDue();
    expect((await h.engine.getInstance(id))?.status).toBe("succeeded");
    expect(
      h.events
        .filter((e) => e.type === "callback.received")
        .map((e) => "duplicate" in e && e.duplicate),
    ).toEqual([false, true]);
  });

  test("unknown paths and callbacks are 404; a refused callback gets the channel's refusal", async () => {
    const h = engineHarness();
    const url = await serve(h);
    expect((await fetch(`${url}/elsewhere`, { method: "POST", body: "{}" })).status).toBe(404);
    expect(
      (await fetch(`${url}/callbacks/lanbank/nope`, { method: "POST", body: "{}" })).status,
    ).toBe(404);
    expect(
      (await fetch(`${url}/callbacks/nobank/loan.result`, { method: "POST", body: "{}" })).status,
    ).toBe(404);
    // Names of Object's own members, and escapes that decode to nothing, name no callback.
    for (const path of ["lanbank/constructor", "lanbank/__proto__", "lanbank/%E0%A4%A"]) {
      const answer = await fetch(`${url}/callbacks/${path}`, { method: "POST", body: "{}" });
      expect(answer.status, path).toBe(404);
    }
    const refused = await fetch(`${url}/callbacks/lanbank/loan.result`, {
      method: "POST",
      body: "not json",
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ code: "9999", message: "rejected" });
  });
});
