import type { ProductDefinition } from "../../src/definition/product-types.ts";
import type {
  BehaviorDefinition,
  ChannelDefinition,
  StepDefinition,
} from "../../src/definition/types.ts";

/** A funder with a credit behavior (no money moves) and a loan behavior (the apply moves money). */
export function funderChannel(
  code: string,
  extra: Partial<ChannelDefinition> = {},
): ChannelDefinition {
  return {
    code,
    name: code,
    baseUrl: "http://127.0.0.1:9",
    timeZone: "Asia/Shanghai",
    crypto: { handler: "plain" },
    interfaces: {
      "credit.apply": { method: "POST", path: "/credit", idempotent: true },
      "loan.apply": { method: "POST", path: "/loan" },
      "loan.query": { method: "POST", path: "/loan/query" },
    },
    statusTable: {
      code: "body.code",
      codes: {
        "0": { outcome: "succeeded" },
        "1": { outcome: "failed" },
        "2": { outcome: "processing" },
      },
    },
    ...extra,
  };
}

export function creditBehavior(channel: string): BehaviorDefinition {
  return {
    channel,
    code: "credit",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "credit.apply",
        request: { format: "json", body: { no: "{{input.applicationNo}}" } },
        routes: [
          { when: 'outcome == "succeeded"', to: "approved" },
          { when: 'outcome == "failed"', to: "declined" },
        ],
        otherwise: "review",
        onRetryExhausted: "unreachable",
      },
      approved: { kind: "terminal", outcome: "succeeded" },
      declined: { kind: "terminal", outcome: "failed", failover: true },
      unreachable: { kind: "terminal", outcome: "failed", failover: true },
      review: { kind: "terminal", outcome: "manual" },
    },
  };
}

export function loanBehavior(
  channel: string,
  overrides: Record<string, Partial<StepDefinition>> = {},
): BehaviorDefinition {
  const steps: Record<string, StepDefinition> = {
    apply: {
      kind: "call",
      interface: "loan.apply",
      movesMoney: true,
      request: { format: "json", body: { no: "{{input.loanNo}}" } },
      routes: [
        { when: 'outcome == "succeeded"', to: "disbursed" },
        { when: 'outcome == "failed"', to: "failed" },
      ],
      otherwise: "query",
      onUnknownOutcome: "query",
    },
    query: {
      kind: "poll",
      interface: "loan.query",
      request: { format: "json", body: { no: "{{input.loanNo}}" } },
      schedule: ["1s", "1s"],
      routes: [
        { when: 'outcome == "succeeded"', to: "disbursed" },
        { when: 'outcome == "failed"', to: "failed" },
      ],
      onExhausted: "review",
    },
    disbursed: { kind: "terminal", outcome: "succeeded" },
    failed: { kind: "terminal", outcome: "failed" },
    review: { kind: "terminal", outcome: "manual" },
  };
  for (const [code, change] of Object.entries(overrides)) {
    steps[code] = { ...steps[code], ...change } as StepDefinition;
  }
  return { channel, code: "loan", initial: "apply", steps };
}

export function product(
  channels: ProductDefinition["channels"],
  extra: Partial<ProductDefinition> = {},
): ProductDefinition {
  return { code: "cash-loan", name: "Cash loan", amount: "input.amount", channels, ...extra };
}
