import { describe, expect, test } from "vitest";
import type { StepLogEntry } from "../../src/ports/instance-store.ts";
import { engineHarness } from "../support/harness.ts";
import {
  loanBehaviorAcceptingTo,
  loanBehaviorPollingWhileWaiting,
} from "../support/loan-definitions.ts";

/** The history rows of one step that record a request sent to the partner. */
const partnerCalls = (history: StepLogEntry[], step: string) =>
  history.filter((entry) => entry.step === step && entry.request !== undefined);

describe("every partner call is in the audit trail", () => {
  test("every poll of a schedule, the last one included, with its answer and a strictly increasing number", async () => {
    const h = engineHarness({ behaviors: [loanBehaviorAcceptingTo("query")] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-1");
    await h.runFor(60_000);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "manual" });
    expect(h.transport.count("/loan/query")).toBe(3);

    const polls = partnerCalls(await h.engine.history(id), "query");
    expect(polls).toHaveLength(3);
    expect(polls.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
    for (const poll of polls) {
      expect(poll.response).toMatchObject({ status: 200, body: { status: "PROCESSING" } });
    }
    expect(polls[2]).toMatchObject({ toStep: "manual", outcome: "exhausted" });
  });

  test("a poll whose answer is invalid records its error", async () => {
    const h = engineHarness({ behaviors: [loanBehaviorAcceptingTo("query")] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script("/loan/query", { text: "<html>gateway</html>" });
    const { id } = await h.startLoan("L-2");
    await h.runFor(60_000);
    const polls = partnerCalls(await h.engine.history(id), "query");
    expect(polls).toHaveLength(3);
    for (const poll of polls) {
      expect(poll.outcome === "invalidResponse" || poll.outcome === "exhausted").toBe(true);
      expect(poll.error?.code).toBe("CODEC_DECODE_FAILED");
    }
  });

  test("polls inside a callback step are recorded, the last of its schedule too", async () => {
    const h = engineHarness({ behaviors: [loanBehaviorPollingWhileWaiting(["1s", "15s"])] });
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-3");
    await h.runFor(60_000);
    expect(h.transport.count("/loan/query")).toBe(2);
    const polls = partnerCalls(await h.engine.history(id), "wait");
    expect(polls.map((entry) => entry.attempt)).toEqual([1, 2]);
    for (const poll of polls) {
      expect(poll.response).toMatchObject({ body: { status: "PROCESSING" } });
    }
  });

  test("a notification consumed without settling leaves a history row", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-4");
    while ((await h.engine.runDue()) > 0) {}
    await h.callback({
      loanNo: "L-4",
      notifyId: "N-1",
      status: "PROCESSING",
      mobile: "13812345678",
    });
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "wait", status: "waiting" });
    const rows = (await h.engine.history(id)).filter(
      (entry) => entry.step === "wait" && entry.event === "callback",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      outcome: "notification:processing",
      response: { loanNo: "L-4", notifyId: "N-1", status: "PROCESSING" },
    });
    expect(JSON.stringify(rows[0])).not.toContain("13812345678");
  });
});

describe("the inbox keeps personal data masked", () => {
  test("a stored notification holds its personal fields masked, and still settles its instance", async () => {
    const h = engineHarness();
    h.transport.script("/loan/apply", { body: { status: "ACCEPTED" } });
    const { id } = await h.startLoan("L-9");
    while ((await h.engine.runDue()) > 0) {}
    const ack = await h.callback({
      loanNo: "L-9",
      notifyId: "N-9",
      status: "SUCCESS",
      mobile: "13812345678",
      idCardNo: "110101199003071234",
    });
    expect(ack.accepted).toBe(true);
    const [stored] = await h.store.pendingInbox({ channel: "lanbank", businessKey: "L-9" });
    const text = JSON.stringify(stored?.payload);
    expect(text).not.toContain("13812345678");
    expect(text).not.toContain("110101199003071234");
    expect(text).toContain("L-9");
    while ((await h.engine.runDue()) > 0) {}
    expect(await h.engine.getInstance(id)).toMatchObject({ status: "succeeded" });
  });
});

describe("calls that reached the partner are latency samples", () => {
  test("an answered call and an unknown outcome name their interface; a call never sent does not", async () => {
    const h = engineHarness({ behaviors: [loanBehaviorAcceptingTo("query")] });
    h.transport.script("/loan/apply", { fault: "notSent" }, { fault: "unknownOutcome" });
    h.transport.script("/loan/query", { body: { status: "PROCESSING" } });
    const { id } = await h.startLoan("L-9");
    await h.runFor(60_000);
    const history = await h.engine.history(id);
    const applies = partnerCalls(history, "apply");
    const notSent = applies.find((entry) => entry.error?.code === "TRANSPORT_NOT_SENT");
    const unknown = applies.find((entry) => entry.error?.code === "TRANSPORT_UNKNOWN_OUTCOME");
    expect(notSent).toBeDefined();
    expect(notSent?.interface).toBeUndefined();
    expect(unknown?.interface).toBe("loan.apply");
    const polls = partnerCalls(history, "query");
    expect(polls.length).toBeGreaterThan(0);
    for (const poll of polls) expect(poll.interface).toBe("loan.query");
    for (const entry of history.filter((e) => e.request === undefined)) {
      expect(entry.interface).toBeUndefined();
    }
  });
});
