import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { registerBuiltinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { renderMessage } from "../../src/message/render-message.ts";
import { builtinRegistry, scopeOf } from "../message/fixtures.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

/** Alipay OpenAPI's shape: a form whose `biz_content` is the JSON text of the business object. */
const transfer = {
  app_id: "2021000000000001",
  method: "alipay.fund.trans.uni.transfer",
  biz_content: {
    $json: {
      out_biz_no: "{{input.loanNo}}",
      trans_amount: "{{toYuan input.amount}}",
      product_code: "TRANS_ACCOUNT_NO_PWD",
      payee_info: { identity: "{{input.account}}", name: "{{input.name}}" },
      remark: "{{input.remark}}",
    },
  },
};

/** Alipay's fund notification: a form whose `biz_content` carries the order as JSON text. */
function channel(): ChannelDefinition {
  const definition = structuredClone(testChannel);
  definition.callbacks = {
    "trans.changed": {
      format: "form",
      match: "body.msg_method == 'alipay.fund.trans.order.changed'",
      correlation: "parseJson(body.biz_content).out_biz_no",
      dedupeKey: "body.notify_id",
      extract: {
        orderId: "parseJson(body.biz_content).order_id",
        amount: "parseJson(body.biz_content).trans_amount",
        payee: "parseJson(body.biz_content).?payee_info.name.orValue('')",
      },
      statusTable: {
        code: "parseJson(body.biz_content).status",
        codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
      },
      ack: { format: "text", body: "success", rejectBody: "fail" },
    },
  };
  return definition;
}

function behavior(): BehaviorDefinition {
  const definition = loanBehavior();
  const apply = definition.steps.apply;
  const wait = definition.steps.wait;
  if (apply?.kind !== "call" || wait?.kind !== "callback") throw new Error("loan steps");
  apply.request = { format: "form", body: transfer };
  apply.response = { format: "json", extract: { applyNo: "body.applyNo" } };
  wait.callback = "trans.changed";
  return definition;
}

const input = {
  account: "6222020000000000",
  name: "张三",
  remark: `payout "May" & 100% <ok>`,
};

function notification(bizContent: string, notifyId: string) {
  return new URLSearchParams({
    notify_id: notifyId,
    msg_method: "alipay.fund.trans.order.changed",
    biz_content: bizContent,
  }).toString();
}

function harness() {
  const h = engineHarness({ channel: channel(), behaviors: [behavior()] });
  registerBuiltinProcessors(h.processors);
  return h;
}

describe("JSON text inside a field", () => {
  test("the definitions validate: $json templates and parseJson in every expression", () => {
    const { problems } = validateDefinitions({
      channels: [{ file: "lanbank.channel.json", definition: channel() }],
      behaviors: [{ file: "lanbank.loan.behavior.json", definition: behavior() }],
    });
    expect(problems).toEqual([]);
  });

  test("an Alipay-like request carries biz_content as JSON text; its notification is read through it", async () => {
    const h = harness();
    h.transport.script("/loan/apply", { body: { status: "PROCESSING", applyNo: "A-1" } });
    const { id } = await h.startLoan("L-JSON", input);
    await h.runFor(1_000);

    const [sent] = h.transport.requests;
    const form = new URLSearchParams(sent!.text);
    expect(form.get("method")).toBe("alipay.fund.trans.uni.transfer");
    // The object is JSON text inside the field, escaped by the form codec, types kept.
    expect(JSON.parse(form.get("biz_content")!)).toEqual({
      out_biz_no: "L-JSON",
      trans_amount: "1000.00",
      product_code: "TRANS_ACCOUNT_NO_PWD",
      payee_info: { identity: "6222020000000000", name: "张三" },
      remark: `payout "May" & 100% <ok>`,
    });
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });

    const bizContent = JSON.stringify({
      out_biz_no: "L-JSON",
      order_id: "20261206110070000006",
      trans_amount: "1000.00",
      status: "SUCCESS",
      payee_info: { name: "张三" },
    });
    const ack = await h.engine.receiveCallback("lanbank", "trans.changed", {
      method: "POST",
      path: "/callbacks/lanbank/trans.changed",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: notification(bizContent, "N-1"),
    });
    expect(ack).toMatchObject({ accepted: true });
    await h.runFor(1_000);
    const settled = await h.engine.getInstance(id);
    expect(settled).toMatchObject({ step: "disbursed", status: "succeeded" });
    expect(settled?.context.wait).toEqual({
      orderId: "20261206110070000006",
      amount: "1000.00",
      payee: "张三",
    });
  });

  test("a field that is not JSON text refuses the notification with the reason, nothing stored", async () => {
    const h = harness();
    h.transport.script("/loan/apply", { body: { status: "PROCESSING", applyNo: "A-2" } });
    const { id } = await h.startLoan("L-BAD", input);
    await h.runFor(1_000);
    const ack = await h.engine.receiveCallback("lanbank", "trans.changed", {
      method: "POST",
      path: "/callbacks/lanbank/trans.changed",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: notification("{out_biz_no:L-BAD", "N-2"),
    });
    expect(ack.accepted).toBe(false);
    expect(ack.error?.code).toBe("EXTRACT_FAILED");
    expect(ack.error?.message).toContain("not JSON text");
    expect(await h.store.pendingInbox({ channel: "lanbank", businessKey: "L-BAD" })).toEqual([]);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });
  });

  test("inside a JSON body the text is a string the outer codec quotes", async () => {
    const rendered = await renderMessage(
      { format: "json", body: { biz_content: { $json: { no: "{{input.no}}", n: 7 } } } },
      scopeOf({ input: { no: 'a"b\\c' } }),
      { registry: builtinRegistry() },
    );
    expect(rendered.body).toEqual({ biz_content: '{"no":"a\\"b\\\\c","n":7}' });
    const wire = codecFor("json").encode(rendered.body);
    expect(JSON.parse(JSON.parse(wire).biz_content)).toEqual({ no: 'a"b\\c', n: 7 });
  });
});
