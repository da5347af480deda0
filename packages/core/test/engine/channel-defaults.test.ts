import { describe, expect, test } from "vitest";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

describe("what partners expect of every request", () => {
  test("a User-Agent by default, the channel's own when it names one, a template's when it sets one", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    await h.startLoan("L-1");
    while ((await h.engine.runDue()) > 0) {}
    expect(h.transport.requests[0]?.headers["user-agent"]).toBe("capflow");

    const channel = { ...structuredClone(testChannel), userAgent: "lanbank-client/2.1" };
    const named = engineHarness({ channel });
    named.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    await named.startLoan("L-2");
    while ((await named.engine.runDue()) > 0) {}
    expect(named.transport.requests[0]?.headers["user-agent"]).toBe("lanbank-client/2.1");

    const behavior = loanBehavior();
    if (behavior.steps.apply?.kind !== "call") throw new Error("apply is a call");
    behavior.steps.apply.request.headers = { "User-Agent": "set-by-template" };
    const own = engineHarness({ channel, behaviors: [behavior] });
    own.transport.script("/loan/apply", { body: { status: "SUCCESS" } });
    await own.startLoan("L-3");
    while ((await own.engine.runDue()) > 0) {}
    expect(own.transport.requests[0]?.headers["user-agent"]).toBe("set-by-template");
  });

  test("channel constants are written once and read by every template, acknowledgements included", async () => {
    const channel = structuredClone(testChannel);
    channel.constants = { merchantId: "M-1900000001", version: 2 };
    channel.callbacks!["loan.result"]!.ack.body = { code: "0000", mch: "{{constants.merchantId}}" };
    const behavior = loanBehavior();
    if (behavior.steps.apply?.kind !== "call") throw new Error("apply is a call");
    behavior.steps.apply.request.body = {
      mchId: "{{constants.merchantId}}",
      version: "{{constants.version}}",
      loanNo: "{{input.loanNo}}",
    };
    const problems = validateDefinitions({
      channels: [{ file: "lanbank.channel.json", definition: channel }],
      behaviors: [{ file: "lanbank.loan.behavior.json", definition: behavior }],
    }).problems;
    expect(problems).toEqual([]);

    const h = engineHarness({ channel, behaviors: [behavior] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    await h.startLoan("L-4");
    while ((await h.engine.runDue()) > 0) {}
    expect(h.transport.requests[0]?.body).toMatchObject({ mchId: "M-1900000001", version: 2 });
    const ack = await h.callback({ loanNo: "L-4", notifyId: "N-1", status: "SUCCESS" });
    expect(JSON.parse(ack.body)).toEqual({ code: "0000", mch: "M-1900000001" });
  });
});
