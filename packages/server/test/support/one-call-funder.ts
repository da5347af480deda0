import type { BehaviorDefinition, ChannelDefinition } from "@capflow/core";

/** A funder with one call (`loan.apply`), at `baseUrl`, sealing with `crypto`, and its `apply`. */
export function oneCallFunder(
  code: string,
  baseUrl: string,
  crypto: ChannelDefinition["crypto"] = { handler: "plain" },
) {
  const channel: ChannelDefinition = {
    code,
    name: code,
    baseUrl,
    timeZone: "Asia/Shanghai",
    crypto,
    interfaces: { "loan.apply": { method: "POST", path: "/loan/apply", idempotent: true } },
    statusTable: { code: "body.status", codes: { S: { outcome: "succeeded" } } },
  };
  const behavior: BehaviorDefinition = {
    channel: code,
    code: "apply",
    initial: "apply",
    steps: {
      apply: {
        kind: "call",
        interface: "loan.apply",
        request: { format: "json", body: { loanNo: "{{input.loanNo}}" } },
        routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      },
      done: { kind: "terminal", outcome: "succeeded" },
    },
  };
  return { channel, behavior };
}
