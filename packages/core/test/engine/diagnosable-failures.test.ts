import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import { callbackRequestListener } from "../../src/engine/callback-listener.ts";
import { isCapflowError } from "../../src/errors.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (running === undefined) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

describe("failures say what went wrong", () => {
  test("a callback refused for a non-crypto reason gives the host code and message; the partner learns nothing", async () => {
    const channel = structuredClone(testChannel);
    channel.callbacks!["loan.result"]!.extract = { amount: "int(body.amount)" };
    const h = engineHarness({ channel });
    const errors: unknown[] = [];
    server = createServer(callbackRequestListener(h.engine, { onError: (e) => errors.push(e) }));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const answer = await fetch(`${url}/callbacks/lanbank/loan.result`, {
      method: "POST",
      body: JSON.stringify({ loanNo: "L-1", notifyId: "N-1", status: "SUCCESS", amount: "x" }),
    });
    expect(answer.status).toBe(400);
    const told = await answer.text();
    expect(told).not.toContain("EXTRACT_FAILED");
    expect(told).not.toContain("amount");
    const rejected = h.events.find((e) => e.type === "callback.rejected");
    expect(rejected).toMatchObject({ code: "EXTRACT_FAILED" });
    expect((rejected as { message: string }).message).toContain("int(body.amount)");
    expect(errors).toHaveLength(1);
    expect(isCapflowError(errors[0], "EXTRACT_FAILED")).toBe(true);

    // Other methods are not callbacks.
    for (const method of ["GET", "PUT", "DELETE"]) {
      const other = await fetch(`${url}/callbacks/lanbank/loan.result`, { method });
      expect(other.status, method).toBe(405);
      expect(other.headers.get("allow")).toBe("POST");
    }
  });

  test("a body that is not the object a profile reads is CODEC_DECODE_FAILED, not a signature failure", async () => {
    const handler = await handlerFor({
      keys: { secret: { ref: "inline:k" } },
      response: {
        signature: {
          algorithm: "hmac-sha256",
          canonical: { kind: "sortedFields" },
          placement: { in: "body", name: "sign" },
        },
      },
    });
    const sent = { method: "POST" as const, path: "/", headers: {}, query: {}, body: "" };
    for (const body of ['"just text"', "[1, 2]", "{not json"]) {
      await expect(
        handler.openResponse({ status: 200, headers: {}, body }, sent, codecFor("json")),
        body,
      ).rejects.toMatchObject({ code: "CODEC_DECODE_FAILED" });
    }
  });

  test("the form codec builds plain objects: a __proto__ field is refused", () => {
    const form = codecFor("form");
    expect(() => form.decode("__proto__=x&a=1")).toThrow(
      expect.objectContaining({ code: "CODEC_DECODE_FAILED" }),
    );
    const fields = form.decode("a=1&constructor=2") as Record<string, unknown>;
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.keys(fields)).toEqual(["a", "constructor"]);
  });

  test("a NUL character in start input is a typed input error, and nothing is stored", async () => {
    const h = engineHarness();
    await expect(h.startLoan("L-nul", { remark: "a\u0000b" })).rejects.toMatchObject({
      code: "INSTANCE_INPUT_INVALID",
      message: expect.stringContaining("/remark"),
    });
    expect(await h.store.listInstances({ channel: "lanbank" })).toEqual([]);
  });

  test("a line break in a header is a configuration error: parked, not retried", async () => {
    const behavior = loanBehavior();
    const apply = behavior.steps.apply;
    if (apply?.kind !== "call") throw new Error("apply is a call");
    apply.request.headers = { "X-Remark": "{{input.remark}}" };
    const h = engineHarness({
      behaviors: [behavior],
      engine: { secrets: createDefaultSecretResolver() },
    });
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    const { id } = await h.startLoan("L-crlf", { remark: "ok\r\nX-Injected: 1" });
    await h.runFor(60_000, 5_000);
    expect(h.transport.count("/loan/apply")).toBe(0);
    const instance = await h.engine.getInstance(id);
    expect(instance).toMatchObject({ step: "apply", nextRunAt: null });
    expect(instance?.lastError?.code).toBe("CONFIG_INVALID");
    expect(instance?.lastError?.message).toContain("x-remark");
  });
});
