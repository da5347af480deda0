import { describe, expect, test } from "vitest";
import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";
import { validateDefinitions } from "../../src/definition/validate-definitions.ts";
import { engineHarness } from "../support/harness.ts";
import { loanBehavior, testChannel } from "../support/loan-definitions.ts";

/** The funder's query answers NOT_FOUND for an order it never received. */
function channel(deduplicates: boolean): ChannelDefinition {
  const definition = structuredClone(testChannel);
  definition.statusTable!.codes.NOT_FOUND = { outcome: "processing" };
  if (deduplicates) definition.interfaces["loan.apply"]!.deduplicatesSerial = { grace: "2m" };
  return definition;
}

function behavior(): BehaviorDefinition {
  const definition = loanBehavior();
  const query = definition.steps.query;
  if (query?.kind !== "poll") throw new Error("the loan behavior's query step is a poll");
  query.onNotReceived = { when: "code == 'NOT_FOUND'", resend: "apply" };
  return definition;
}

const serialOf = (body: unknown) => (body as { serial: string }).serial;

describe("recovery without manual review", () => {
  test("an order the partner never received is resent with the same serial after the grace period", async () => {
    const h = engineHarness({ channel: channel(true), behaviors: [behavior()] });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" }, { body: { status: "SUCCESS" } });
    h.transport.script("/loan/query", { body: { status: "NOT_FOUND" } });
    const { id } = await h.startLoan("L-1");
    const sentAt = h.clock.now();
    await h.runFor(5_000);
    // Asked once, told "not found": the resend waits for the grace period, not before.
    expect(h.transport.count("/loan/query")).toBe(1);
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "apply",
      status: "active",
      nextRunAt: sentAt + 120_000,
      inFlight: { step: "apply", attempt: 1, notProcessed: true },
    });

    await h.runFor(120_000, 5_000);
    const applies = h.transport.requests.filter((r) => r.path === "/loan/apply");
    expect(applies).toHaveLength(2);
    expect(serialOf(applies[1]!.body)).toBe(serialOf(applies[0]!.body));
    expect(await h.engine.getInstance(id)).toMatchObject({
      step: "disbursed",
      status: "succeeded",
      inFlight: null,
    });
    const history = await h.engine.history(id);
    expect(history.map((entry) => [entry.step, entry.outcome])).toContainEqual([
      "query",
      "notReceived",
    ]);
  });

  test("an interface that does not declare serial deduplication is never resent", async () => {
    const h = engineHarness({ channel: channel(false), behaviors: [behavior()] });
    h.transport.script("/loan/apply", { fault: "unknownOutcome" }, { body: { status: "SUCCESS" } });
    h.transport.script("/loan/query", { body: { status: "NOT_FOUND" } });
    const { id } = await h.startLoan("L-2");
    await h.runFor(10 * 60_000, 5_000);
    expect(h.transport.count("/loan/apply")).toBe(1);
    expect(await h.engine.getInstance(id)).toMatchObject({ step: "manual", status: "manual" });
  });

  test("validate refuses a resend to an interface that does not declare it, or to another call", () => {
    const check = (definition: ChannelDefinition, b: BehaviorDefinition) =>
      validateDefinitions({
        channels: [{ file: "lanbank.channel.json", definition }],
        behaviors: [{ file: "lanbank.loan.behavior.json", definition: b }],
      }).problems.map((p) => [p.code, p.pointer]);
    expect(check(channel(true), behavior())).toEqual([]);
    expect(check(channel(false), behavior())).toEqual([
      ["unsafe-resend", "/steps/query/onNotReceived/resend"],
    ]);
    const other = behavior();
    (other.steps.apply as { onUnknownOutcome: string }).onUnknownOutcome = "manual";
    expect(check(channel(true), other)).toContainEqual([
      "unsafe-resend",
      "/steps/query/onNotReceived/resend",
    ]);
  });

  test("validate refuses a route of the recovery query back into the non-idempotent call", () => {
    const routed = behavior();
    const query = routed.steps.query;
    if (query?.kind !== "poll") throw new Error("query is a poll");
    query.routes = [...query.routes, { when: "code == 'NOT_FOUND'", to: "apply" }];
    const problems = validateDefinitions({
      channels: [{ file: "lanbank.channel.json", definition: channel(true) }],
      behaviors: [{ file: "lanbank.loan.behavior.json", definition: routed }],
    }).problems;
    expect(problems.map((p) => [p.code, p.pointer])).toEqual([
      ["unsafe-resend", "/steps/query/routes/2/to"],
    ]);
  });
});
