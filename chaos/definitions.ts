import type { BehaviorDefinition, ChannelDefinition } from "@capflow/core";

/**
 * The fault suite's two funders: `chaos-once` creates an order for every apply it receives (not
 * idempotent: a resend would be a second loan), `chaos-dedupe` deduplicates by order number (the
 * engine may resend with the same serial). Both answer at once or later by callback, and answer
 * queries by order number.
 */
export const chaosChannels = ["chaos-once", "chaos-dedupe"] as const;
export type ChaosChannel = (typeof chaosChannels)[number];

export function chaosChannel(code: ChaosChannel, funderOrigin: string): ChannelDefinition {
  const once = code === "chaos-once";
  return {
    code,
    name: once ? "Chaos funder, no deduplication" : "Chaos funder, deduplicating",
    baseUrl: `${funderOrigin}/${once ? "once" : "dedupe"}`,
    timeZone: "Asia/Shanghai",
    bulkhead: 64,
    crypto: { handler: "plain" },
    interfaces: {
      apply: {
        method: "POST",
        path: "/apply",
        timeout: "2s",
        idempotent: !once,
        ...(once ? {} : { retry: { schedule: ["1s", "2s"], on: ["notSent", "unknownOutcome"] } }),
        statusTable: {
          code: 'body.respCode == "0000" ? body.status : body.respCode',
          codes: {
            SUCCESS: { outcome: "succeeded" },
            FAIL: { outcome: "failed" },
            PROCESSING: { outcome: "processing" },
          },
        },
      },
      query: {
        method: "POST",
        path: "/query",
        timeout: "2s",
        idempotent: true,
        retry: { schedule: ["1s"], on: ["notSent", "unknownOutcome"] },
        statusTable: {
          code: 'body.respCode == "0000" ? body.status : body.respCode',
          codes: {
            SUCCESS: { outcome: "succeeded" },
            FAIL: { outcome: "failed" },
            "3004": { outcome: "unknown", description: "no such order (yet)" },
          },
        },
      },
    },
    callbacks: {
      result: {
        format: "json",
        correlation: "body.applyNo",
        dedupeKey: "body.notifyId",
        statusTable: {
          code: "body.status",
          codes: { SUCCESS: { outcome: "succeeded" }, FAIL: { outcome: "failed" } },
        },
        ack: { format: "json", body: { code: "0" } },
      },
    },
  } as ChannelDefinition;
}

export function chaosBehavior(code: ChaosChannel): BehaviorDefinition {
  const once = code === "chaos-once";
  return {
    channel: code,
    code: "loan",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "apply",
        idempotent: !once,
        request: {
          format: "json",
          body: {
            applyNo: "{{input.applyNo}}",
            amount: "{{input.amount}}",
            serialNo: "{{attempt.serial}}",
          },
        },
        routes: [
          { when: 'outcome == "succeeded"', to: "done" },
          { when: 'outcome == "failed"', to: "rejected" },
        ],
        otherwise: "awaitResult",
        ...(once ? { onUnknownOutcome: "query" } : {}),
        onRetryExhausted: "query",
      },
      awaitResult: {
        kind: "callback",
        callback: "result",
        deadline: "3s",
        onDeadline: "query",
        routes: [
          { when: 'outcome == "succeeded"', to: "done" },
          { when: 'outcome == "failed"', to: "rejected" },
        ],
        otherwise: "query",
      },
      query: {
        kind: "poll",
        interface: "query",
        request: { format: "json", body: { applyNo: "{{input.applyNo}}" } },
        schedule: ["1s", "1s", "2s", "2s", "3s", "5s"],
        routes: [
          { when: 'outcome == "succeeded"', to: "done" },
          { when: 'outcome == "failed"', to: "rejected" },
        ],
        onExhausted: "review",
      },
      done: { kind: "terminal", outcome: "succeeded" },
      rejected: { kind: "terminal", outcome: "failed" },
      review: { kind: "terminal", outcome: "manual" },
    },
  } as BehaviorDefinition;
}
