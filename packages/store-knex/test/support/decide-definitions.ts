import type { BehaviorDefinition, ChannelDefinition } from "@capflow/core";

/** A channel with no partner interface, for tests of what the store does around a step. */
export const shopChannel: ChannelDefinition = {
  code: "shop",
  name: "Shop",
  baseUrl: "http://127.0.0.1:9",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: {},
};

/** One `decide` step to a terminal: an instance that settles in one commit, calling no one. */
export const checkBehavior: BehaviorDefinition = {
  channel: "shop",
  code: "check",
  initial: "check",
  steps: {
    check: {
      kind: "decide",
      routes: [{ when: "input.amount > 0", to: "done" }],
      otherwise: "done",
    },
    done: { kind: "terminal", outcome: "succeeded" },
  },
};
