import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { engineHarness } from "../support/harness.ts";
import { testChannel } from "../support/loan-definitions.ts";

const secret = "bodiless-hmac-secret";
const hmac = (text: string) => createHmac("sha256", secret).update(text).digest("base64");

/** A channel whose queries are GETs and DELETEs, signed over `{method}\n{path}\n…\n{body}\n`. */
const { statusTable: _answersRoutedByHttpStatus, ...clearChannel } = testChannel;
const channel: ChannelDefinition = {
  ...clearChannel,
  interfaces: {
    "loan.status": { method: "GET", path: "/loan/status", idempotent: true },
    "loan.withdraw": { method: "DELETE", path: "/loan/application", idempotent: true },
  },
  callbacks: {},
  crypto: {
    handler: "configurable",
    options: {
      keys: { secret: { ref: `inline:${secret}` } },
      request: {
        timestamp: { in: "header", name: "X-Timestamp" },
        nonce: { in: "header", name: "X-Nonce" },
        signature: {
          algorithm: "hmac-sha256",
          output: "base64",
          canonical: {
            kind: "template",
            template: "{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n",
          },
          placement: { in: "header", name: "X-Signature" },
        },
      },
      response: {
        timestamp: { in: "header", name: "X-Timestamp" },
        nonce: { in: "header", name: "X-Nonce" },
        signature: {
          algorithm: "hmac-sha256",
          output: "base64",
          canonical: { kind: "template", template: "{timestamp}\n{nonce}\n{body}\n" },
          placement: { in: "header", name: "X-Signature" },
        },
      },
    },
  },
};

const behavior: BehaviorDefinition = {
  channel: "lanbank",
  code: "loan",
  initial: "status",
  steps: {
    status: {
      kind: "call",
      interface: "loan.status",
      request: { format: "json", query: { loanNo: "{{input.loanNo}}" } },
      routes: [{ when: "status == 204", to: "withdraw" }],
    },
    withdraw: {
      kind: "call",
      interface: "loan.withdraw",
      request: { format: "json", query: { loanNo: "{{input.loanNo}}" } },
      routes: [{ when: "status == 204", to: "done" }],
    },
    done: { kind: "terminal", outcome: "cancelled" },
  },
};

describe("requests without a body and answers without one", () => {
  test("GET and DELETE are signed over the empty string and sent bodiless; a signed 204 opens as empty", async () => {
    const h = engineHarness({
      channel,
      behaviors: [behavior],
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    const signed204 = (ts: string, nonce: string) => ({
      status: 204,
      text: "",
      headers: {
        "x-timestamp": ts,
        "x-nonce": nonce,
        "x-signature": hmac(`${ts}\n${nonce}\n\n`),
      },
    });
    h.transport.script("/loan/status", signed204("1768442400", "n-status"));
    h.transport.script("/loan/application", signed204("1768442401", "n-withdraw"));
    const { id } = await h.startLoan("L-9");
    await h.runFor(1_000);

    expect(await h.engine.getInstance(id)).toMatchObject({ step: "done", status: "cancelled" });
    expect(h.transport.requests.map((r) => [r.method, r.search, r.text])).toEqual([
      ["GET", "?loanNo=L-9", undefined],
      ["DELETE", "?loanNo=L-9", undefined],
    ]);
    for (const request of h.transport.requests) {
      const path = request.path + request.search;
      const ts = request.headers["x-timestamp"];
      const nonce = request.headers["x-nonce"];
      // Signed over an empty body, never over "null"; no content type for no content.
      expect(request.headers["x-signature"]).toBe(
        hmac(`${request.method}\n${path}\n${ts}\n${nonce}\n\n`),
      );
      expect(request.headers["content-type"]).toBeUndefined();
    }
  });

  test("a 204 whose signature does not cover the empty body is refused", async () => {
    const h = engineHarness({
      channel,
      behaviors: [behavior],
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    h.transport.script("/loan/status", {
      status: 204,
      text: "",
      headers: {
        "x-timestamp": "1768442400",
        "x-nonce": "n",
        "x-signature": hmac("1768442400\nn\nnull\n"),
      },
    });
    const { id } = await h.startLoan("L-10");
    await h.runFor(1_000);
    const instance = await h.engine.getInstance(id);
    expect(instance).toMatchObject({ step: "status" });
    expect(instance?.lastError).toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });
});
