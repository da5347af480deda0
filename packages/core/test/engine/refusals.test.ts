import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import wechatpay from "wechatpay-axios-plugin";
import { createDefaultSecretResolver } from "../../src/crypto/secret-resolvers.ts";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { documentedProfile } from "../support/crypto/documented-profiles.ts";
import { engineHarness } from "../support/harness.ts";

/** WeChat Pay v2's signing rule, which MD5/XML aggregators share: the oracle of signed answers. */
const { Hash } = wechatpay as unknown as {
  Hash: { sign(type: string, data: Record<string, string>, key: string): string };
};

const md5Key = "192006250b4c09247ec02edce69f6a2d";
const xml = codecFor("xml", { xml: { root: "xml" } });

/** A Swiftpass-style aggregator: `status != 0` answers carry no signature. */
function aggregatorChannel(): ChannelDefinition {
  const crypto = documentedProfile("md5-xml-aggregator");
  (crypto.options as { keys: unknown }).keys = { secret: { ref: `inline:${md5Key}` } };
  return {
    code: "lanbank",
    name: "Aggregator",
    baseUrl: "http://partner.test",
    timeZone: "Asia/Shanghai",
    crypto,
    interfaces: {
      "pay.create": {
        method: "POST",
        path: "/pay/gateway",
        retry: { schedule: ["1s", "5s"], on: ["notSent"] },
        statusTable: {
          unsigned: "body.status != '0'",
          code: "body.status != '0' ? 'status:' + body.status : body.result_code",
          codes: {
            "status:500": {
              outcome: "failed",
              notProcessed: true,
              description: "system busy, order not accepted",
            },
            "0": { outcome: "succeeded" },
            "1": { outcome: "failed" },
          },
        },
      },
      "pay.query": { method: "POST", path: "/pay/query", idempotent: true },
    },
  };
}

const payBehavior: BehaviorDefinition = {
  channel: "lanbank",
  code: "loan",
  initial: "pay",
  steps: {
    pay: {
      kind: "call",
      interface: "pay.create",
      request: {
        format: "xml",
        xml: { root: "xml" },
        body: {
          service: "pay.weixin.native",
          out_trade_no: "{{attempt.serial}}",
          total_fee: "100",
        },
      },
      routes: [
        { when: "outcome == 'succeeded'", to: "paid" },
        { when: "outcome == 'failed'", to: "failed" },
      ],
      onUnknownOutcome: "query",
    },
    query: {
      kind: "poll",
      interface: "pay.query",
      request: { format: "xml", xml: { root: "xml" }, body: { out_trade_no: "x" } },
      schedule: ["1m"],
      routes: [],
      onExhausted: "manual",
    },
    paid: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
    manual: { kind: "terminal", outcome: "manual" },
  },
};

function signedAnswer(fields: Record<string, string>): string {
  const all = { version: "2.0", charset: "UTF-8", sign_type: "MD5", ...fields };
  return xml.encode({ ...all, sign: Hash.sign("MD5", all, md5Key) });
}

const xmlHeaders = { "content-type": "application/xml; charset=UTF-8" };

describe("refusals that prove nothing was processed", () => {
  test("an unsigned `status != 0` answer documented as not processed is resent with the same serial, and the error names it", async () => {
    const h = engineHarness({
      channel: aggregatorChannel(),
      behaviors: [payBehavior],
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    h.transport.script(
      "/pay/gateway",
      { text: xml.encode({ status: "500", message: "系统繁忙" }), headers: xmlHeaders },
      {
        text: signedAnswer({ status: "0", result_code: "0", nonce_str: "n1" }),
        headers: xmlHeaders,
      },
    );
    const { id } = await h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "P-1",
      input: {},
    });
    await h.runFor(3_000);

    const sent = h.transport.requests.filter((r) => r.path === "/pay/gateway");
    expect(sent).toHaveLength(2);
    const serials = sent.map((r) => (xml.decode(r.text!) as { out_trade_no: string }).out_trade_no);
    expect(serials[0]).toMatch(/^\d{24}$/);
    expect(serials[1]).toBe(serials[0]);
    expect(h.transport.count("/pay/query")).toBe(0);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "paid", status: "succeeded" });

    const history = await h.engine.history(id);
    const refusal = history.find((entry) => entry.error?.code === "PARTNER_REFUSED");
    expect(refusal?.error?.message).toContain("HTTP 200 with code status:500");
    expect(refusal?.error?.message).toContain("system busy, order not accepted");
    expect(refusal?.outcome).toBe("notSent");
    expect(refusal?.response).toMatchObject({ status: 200, body: { status: "500" } });
    expect(history.some((entry) => entry.error?.code === "CRYPTO_VERIFY_FAILED")).toBe(false);
  });

  test("an unsigned 400 of a signing gateway is classified by its code, never 'signature missing'", async () => {
    const secret = "gateway-hmac-secret";
    const channel: ChannelDefinition = {
      code: "lanbank",
      name: "Gateway",
      baseUrl: "http://partner.test",
      timeZone: "Asia/Shanghai",
      crypto: {
        handler: "configurable",
        options: {
          keys: { secret: { ref: `inline:${secret}` } },
          response: {
            signature: {
              algorithm: "hmac-sha256",
              output: "base64",
              canonical: { kind: "rawBody" },
              placement: { in: "header", name: "X-Signature" },
            },
          },
        },
      },
      interfaces: {
        "loan.apply": {
          method: "POST",
          path: "/loan/apply",
          retry: { schedule: ["1s"], on: ["notSent"] },
        },
      },
      statusTable: {
        unsigned: "status == 400",
        code: "body.code",
        codes: {
          "0000": { outcome: "succeeded" },
          "9001": { outcome: "failed", notProcessed: true, description: "busy" },
          "9002": { outcome: "failed", description: "amount out of range" },
        },
      },
    };
    const behavior: BehaviorDefinition = {
      channel: "lanbank",
      code: "loan",
      initial: "apply",
      steps: {
        apply: {
          kind: "call",
          interface: "loan.apply",
          request: { format: "json", body: { serial: "{{attempt.serial}}" } },
          routes: [
            { when: "outcome == 'succeeded'", to: "done" },
            { when: "outcome == 'failed' && code == '9002'", to: "declined" },
          ],
          onUnknownOutcome: "manual",
        },
        done: { kind: "terminal", outcome: "succeeded" },
        declined: { kind: "terminal", outcome: "failed" },
        manual: { kind: "terminal", outcome: "manual" },
      },
    };
    const h = engineHarness({
      channel,
      behaviors: [behavior],
      engine: { secrets: createDefaultSecretResolver({ allowInline: true }) },
    });
    h.transport.script(
      "/loan/apply",
      { status: 400, body: { code: "9001", message: "busy" } },
      { status: 400, body: { code: "9002", message: "amount out of range" } },
    );
    const { id } = await h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "G-1",
      input: {},
    });
    await h.runFor(2_000);
    const sent = h.transport.requests.filter((r) => r.path === "/loan/apply");
    expect(sent.map((r) => (r.body as { serial: string }).serial)).toEqual([
      (sent[0]!.body as { serial: string }).serial,
      (sent[0]!.body as { serial: string }).serial,
    ]);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "declined", status: "failed" });
    const history = await h.engine.history(id);
    const refusal = history.find((entry) => entry.error !== undefined);
    expect(refusal?.error).toMatchObject({ code: "PARTNER_REFUSED" });
    expect(refusal?.error?.message).toContain("HTTP 400 with code 9001 (busy)");
    expect(JSON.stringify(history)).not.toContain("CRYPTO_VERIFY_FAILED");

    // An unsigned 200 is not one of these: it must verify, and does not.
    h.transport.script("/loan/apply", { status: 200, body: { code: "0000" } });
    const other = await h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "G-2",
      input: {},
    });
    await h.runFor(1_000);
    expect(await h.engine.getInstance(other.id)).toMatchObject({ step: "manual" });
    const failures = (await h.engine.history(other.id)).filter((entry) => entry.error);
    expect(failures[0]?.error?.code).toBe("CRYPTO_VERIFY_FAILED");
    // A signed one is answered.
    const body = JSON.stringify({ code: "0000" });
    h.transport.script("/loan/apply", {
      status: 200,
      text: body,
      headers: { "x-signature": createHmac("sha256", secret).update(body).digest("base64") },
    });
    const third = await h.engine.start({
      channel: "lanbank",
      behavior: "loan",
      businessKey: "G-3",
      input: {},
    });
    await h.runFor(1_000);
    expect(await h.engine.getInstance(third.id)).toMatchObject({ step: "done" });
  });
});
