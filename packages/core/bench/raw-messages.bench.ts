import { randomBytes } from "node:crypto";
import { Bench } from "tinybench";
import type { BehaviorDefinition, ChannelDefinition } from "../src/definition/types.ts";
import { Engine } from "../src/engine/engine.ts";
import { RawMessageKeyring } from "../src/engine/raw-message-keyring.ts";
import { MemoryDefinitionSource } from "../src/memory/memory-definition-source.ts";
import { MemoryInstanceStore } from "../src/memory/memory-instance-store.ts";
import { ProcessorRegistry } from "../src/message/processor-registry.ts";
import type { Transport } from "../src/ports/transport.ts";

/**
 * What keeping raw messages costs: one call step (render, send to an in-process partner, decode,
 * status table, commit with its step log) keeping the request and answer as sent, sealed with
 * AES-256-GCM, next to the same step with `keepRawMessages` off; and sealing one such exchange
 * alone, to tell the encryption's share from the rest of keeping copies. On the memory store, so
 * no database time hides either.
 */
const channel: ChannelDefinition = {
  code: "bench",
  name: "Bench",
  baseUrl: "http://partner.invalid",
  timeZone: "Asia/Shanghai",
  crypto: { handler: "plain" },
  interfaces: { "loan.apply": { method: "POST", path: "/loan/apply", idempotent: true } },
  statusTable: { code: "body.status", codes: { SUCCESS: { outcome: "succeeded" } } },
};

const behavior: BehaviorDefinition = {
  channel: "bench",
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
          memo: "{{input.memo}}",
        },
      },
      routes: [{ when: "outcome == 'succeeded'", to: "done" }],
      otherwise: "done",
    },
    done: { kind: "terminal", outcome: "succeeded" },
  },
};

/** A partner answering at once, about 1 KB, as a funder's JSON answer is. */
const answer = new TextEncoder().encode(
  JSON.stringify({ status: "SUCCESS", applyNo: "A-1", detail: "x".repeat(1_000) }),
);
const partner: Transport = {
  async send() {
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: answer,
      durationMs: 0,
    };
  },
  async close() {},
};

export const comparisons = [
  { measured: "call step, raw messages kept (sealed)", baseline: "call step, raw messages off" },
];

export const rounds = 3;

const sealTask = "seal one exchange (1.6 KB) alone";

export const report = (opsPerSecond: (task: string) => number): string[] => {
  const us = (task: string) => 1e6 / opsPerSecond(task);
  const { measured, baseline } = comparisons[0]!;
  return [
    `keeping raw messages adds ${(us(measured) - us(baseline)).toFixed(1)} µs per call step, of which sealing ${us(sealTask).toFixed(1)} µs`,
  ];
};

export default function rawMessagesBench(): Bench {
  const engineFor = (keep: boolean) =>
    new Engine({
      store: new MemoryInstanceStore(),
      processors: new ProcessorRegistry(),
      definitions: new MemoryDefinitionSource({ channels: [channel], behaviors: [behavior] }),
      transport: partner,
      ...(keep
        ? {
            keepRawMessages: true,
            rawMessageKeys: new RawMessageKeyring({
              current: "k1",
              keys: { k1: randomBytes(32) },
            }),
          }
        : {}),
    });
  const off = engineFor(false);
  const kept = engineFor(true);
  let n = 0;
  const runOne = async (engine: Engine) => {
    n++;
    await engine.start({
      channel: "bench",
      behavior: "loan",
      businessKey: `k${n}`,
      input: {
        loanNo: `L-${n}`,
        amount: 100000,
        idCardNo: "110101199003071234",
        memo: "m".repeat(500),
      },
    });
    await engine.runDue({ limit: 1 });
  };
  const keys = new RawMessageKeyring({ current: "k1", keys: { k1: randomBytes(32) } });
  const exchange = {
    request: JSON.stringify({
      loanNo: "L-1",
      idCardNo: "110101199003071234",
      memo: "m".repeat(500),
    }),
    response: new TextDecoder().decode(answer),
  };
  const bench = new Bench({ time: 1_000, warmupTime: 200 });
  bench.add(comparisons[0]!.measured, () => runOne(kept));
  bench.add(comparisons[0]!.baseline, () => runOne(off));
  bench.add(sealTask, () => {
    keys.seal(exchange, "step-log");
  });
  return bench;
}
