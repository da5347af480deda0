import type { BehaviorDefinition, ChannelDefinition } from "../../src/definition/types.ts";

const statusTable: NonNullable<ChannelDefinition["statusTable"]> = {
  code: "body.status",
  codes: {
    ACCEPTED: { outcome: "processing" },
    PROCESSING: { outcome: "processing" },
    SUCCESS: { outcome: "succeeded" },
    FAIL: { outcome: "failed" },
    BUSY: { outcome: "failed", retryable: true },
  },
};

/** A small funder for engine tests: JSON in clear, one callback, a query interface. */
export const testChannel: ChannelDefinition = {
  code: "lanbank",
  name: "Lan Bank",
  baseUrl: "http://partner.test",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {
    "loan.apply": {
      method: "POST",
      path: "/loan/apply",
      retry: { schedule: ["1s", "5s"], on: ["notSent", "partnerRetryable"] },
    },
    "loan.query": { method: "POST", path: "/loan/query", idempotent: true },
  },
  statusTable: structuredClone(statusTable),
  callbacks: {
    "loan.result": {
      format: "json",
      correlation: "body.loanNo",
      dedupeKey: "body.notifyId",
      extract: { status: "body.status" },
      statusTable: structuredClone(statusTable),
      ack: {
        format: "json",
        body: { code: "0000", message: "ok" },
        rejectBody: { code: "9999", message: "rejected" },
      },
    },
  },
  masking: { fields: { idCardNo: "idCard", mobile: "phone" } },
};

export function loanBehavior(
  overrides: Partial<BehaviorDefinition["steps"]> = {},
): BehaviorDefinition {
  return {
    channel: "lanbank",
    code: "loan",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "loan.apply",
        request: {
          format: "json",
          body: {
            loanNo: "{{input.loanNo}}",
            amount: "{{input.amount}}",
            idCardNo: "{{input.idCardNo}}",
            serial: "{{attempt.serial}}",
          },
        },
        response: { extract: { applyNo: "body.applyNo" } },
        routes: [
          { when: "outcome == 'processing'", to: "wait" },
          { when: "outcome == 'succeeded'", to: "disbursed" },
          { when: "outcome == 'failed'", to: "rejected" },
        ],
        onUnknownOutcome: "query",
      },
      wait: {
        kind: "callback",
        callback: "loan.result",
        deadline: "30m",
        onDeadline: "query",
        routes: [
          { when: "outcome == 'succeeded'", to: "disbursed" },
          { when: "outcome == 'failed'", to: "failed" },
        ],
      },
      query: {
        kind: "poll",
        interface: "loan.query",
        request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
        schedule: ["1s", "15s", "30s"],
        routes: [
          { when: "outcome == 'succeeded'", to: "disbursed" },
          { when: "outcome == 'failed'", to: "failed" },
        ],
        onExhausted: "manual",
      },
      disbursed: { kind: "terminal", outcome: "succeeded" },
      failed: { kind: "terminal", outcome: "failed" },
      rejected: { kind: "terminal", outcome: "failed" },
      manual: { kind: "terminal", outcome: "manual" },
      ...overrides,
    } as BehaviorDefinition["steps"],
  };
}

/** The loan behavior whose apply step routes an accepted application (`processing`) to `to`. */
export function loanBehaviorAcceptingTo(
  to: string,
  steps: Partial<BehaviorDefinition["steps"]> = {},
): BehaviorDefinition {
  const behavior = loanBehavior(steps);
  const apply = behavior.steps.apply;
  if (apply?.kind !== "call") throw new Error("the loan behavior's apply step is a call");
  apply.routes = [{ when: "outcome == 'processing'", to }];
  return behavior;
}

/** The loan behavior whose callback step also polls, on `schedule`: whichever settles first. */
export function loanBehaviorPollingWhileWaiting(schedule: string[]): BehaviorDefinition {
  const behavior = loanBehavior();
  const wait = behavior.steps.wait;
  if (wait?.kind !== "callback") throw new Error("the loan behavior's wait step is a callback");
  wait.poll = {
    interface: "loan.query",
    request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
    schedule,
  };
  return behavior;
}
