import { describe, expect, test } from "vitest";
import type { ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

/**
 * A channel with two kinds of notification that number each kind on its own: a loan result and
 * a repayment result may both carry notifyId 1001.
 */
function twoCallbackChannel(): ChannelDefinition {
  const channel = structuredClone(testChannel);
  const loan = channel.callbacks!["loan.result"]!;
  loan.match = "body.kind == 'loan'";
  channel.callbacks!["repay.result"] = { ...structuredClone(loan), match: "body.kind == 'repay'" };
  return channel;
}

function post(h: ReturnType<typeof engineHarness>, callback: string, body: unknown) {
  return h.engine.receiveCallback("lanbank", callback, {
    method: "POST",
    path: `/callbacks/lanbank/${callback}`,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("notifications are scoped per callback", () => {
  test("a loan result reusing a repayment result's number is applied, not dropped as a duplicate", async () => {
    const h = engineHarness({ channel: twoCallbackChannel() });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-1");
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });

    const repay = await post(h, "repay.result", {
      kind: "repay",
      loanNo: "L-1",
      notifyId: "1001",
      status: "SUCCESS",
    });
    expect(repay).toMatchObject({ accepted: true, duplicate: false });
    const loan = await post(h, "loan.result", {
      kind: "loan",
      loanNo: "L-1",
      notifyId: "1001",
      status: "SUCCESS",
    });
    expect(loan).toMatchObject({ accepted: true, duplicate: false });
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
    });
    // The same loan notification again is the duplicate, acknowledged as before.
    const again = await post(h, "loan.result", {
      kind: "loan",
      loanNo: "L-1",
      notifyId: "1001",
      status: "SUCCESS",
    });
    expect(again).toMatchObject({ accepted: true, duplicate: true, status: 200 });
  });

  test("a notification posted to another callback's URL is refused and nothing is stored", async () => {
    const h = engineHarness({ channel: twoCallbackChannel() });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-2");
    while ((await h.engine.runDue()) > 0) {}

    // A genuine repayment result (it verifies: same channel, same keys) sent to the loan URL.
    const ack = await post(h, "loan.result", {
      kind: "repay",
      loanNo: "L-2",
      notifyId: "2001",
      status: "SUCCESS",
    });
    expect(ack.accepted).toBe(false);
    expect(ack.status).toBe(400);
    expect(ack.error?.code).toBe("CALLBACK_MISMATCH");
    expect(ack.error?.message).toContain('callback "loan.result"');
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: "callback.rejected", code: "CALLBACK_MISMATCH" }),
    );
    expect(await h.store.pendingInbox({ channel: "lanbank", businessKey: "L-2" })).toEqual([]);
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });
  });

  test("validate asks for a match on each callback of a channel with several", () => {
    const channel = twoCallbackChannel();
    delete channel.callbacks!["repay.result"]!.match;
    const { problems } = validateDefinitions({
      channels: [{ file: "lanbank.channel.json", definition: channel }],
      behaviors: [{ file: "lanbank.loan.behavior.json", definition: loanBehavior() }],
    });
    expect(problems.map((p) => [p.code, p.pointer])).toEqual([
      ["callback-without-match", "/callbacks/repay.result"],
    ]);
    // One callback needs none: nothing else can arrive at its URL by mistake.
    const single = validateDefinitions({
      channels: [{ file: "lanbank.channel.json", definition: testChannel }],
      behaviors: [{ file: "lanbank.loan.behavior.json", definition: loanBehavior() }],
    });
    expect(single.problems).toEqual([]);
  });
});
