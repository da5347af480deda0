import type { BehaviorDefinition, ChannelDefinition } from "@capflow/core";

const payStatus: NonNullable<ChannelDefinition["statusTable"]> = {
  code: "body.status",
  codes: {
    SUCCESS: { outcome: "succeeded" },
    FAIL: { outcome: "failed" },
  },
};

/**
 * A channel without partner calls: its instances wait for a payment notification, in JSON
 * (`pay.result`) or in GBK XML (`pay.gbk`). Mobile numbers and names are masked.
 */
export const shopChannel: ChannelDefinition = {
  code: "shop",
  name: "Shop",
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {},
  callbacks: {
    "pay.result": {
      format: "json",
      correlation: "body.orderNo",
      dedupeKey: "body.notifyId",
      extract: { status: "body.status" },
      statusTable: structuredClone(payStatus),
      ack: {
        format: "json",
        body: { code: "0000", message: "ok" },
        rejectBody: { code: "9999", message: "{{error.code}}" },
      },
    },
    "pay.gbk": {
      format: "xml",
      charset: "GBK",
      correlation: "body.orderNo",
      dedupeKey: "body.notifyId",
      extract: { status: "body.status", memo: "body.memo" },
      statusTable: structuredClone(payStatus),
      ack: {
        format: "xml",
        xml: { root: "response" },
        body: { code: "0000", message: "成功" },
        rejectBody: { code: "{{error.code}}", message: "拒绝" },
      },
    },
  },
  masking: { fields: { mobile: "phone", name: "name" } },
};

/** Waits for `pay.result` (or `pay.gbk` after a move), settles on its status. */
export const orderBehavior: BehaviorDefinition = {
  channel: "shop",
  code: "order",
  initial: "wait",
  steps: {
    wait: {
      kind: "callback",
      callback: "pay.result",
      deadline: "1h",
      onDeadline: "review",
      routes: [
        { when: "outcome == 'succeeded'", to: "paid" },
        { when: "outcome == 'failed'", to: "unpaid" },
      ],
    },
    waitGbk: {
      kind: "callback",
      callback: "pay.gbk",
      deadline: "1h",
      onDeadline: "review",
      routes: [
        { when: "outcome == 'succeeded'", to: "paid" },
        { when: "outcome == 'failed'", to: "unpaid" },
      ],
    },
    paid: { kind: "terminal", outcome: "succeeded" },
    unpaid: { kind: "terminal", outcome: "failed" },
    review: { kind: "terminal", outcome: "manual" },
  },
};
