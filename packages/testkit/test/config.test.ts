import { afterEach, describe, expect, it } from "vitest";
import {
  type MockFunder,
  type MockFunderConfig,
  mockFunderOptionsFromConfig,
  startMockFunder,
} from "../src/index.ts";
import { startCallbackReceiver } from "./support/callback-receiver.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

const crypto = { handler: hmacHandler(funderSecret), codec: jsonCodec };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(config: MockFunderConfig): Promise<MockFunder> {
  const mock = await startMockFunder(mockFunderOptionsFromConfig(config, crypto));
  cleanups.push(() => mock.close());
  return mock;
}

describe("declarative mock funder configuration", () => {
  it("runs a JSON-described funder: scripts by name, templated fields and callbacks, faults", async () => {
    const engine = await startCallbackReceiver();
    cleanups.push(engine.close);
    const config = JSON.parse(
      JSON.stringify({
        seed: 7,
        businessKey: "loanNo",
        callbacks: { url: engine.url, attempts: 3, intervalMs: 10 },
        endpoints: {
          "POST /loan/apply": {
            answer: { script: "processing", fields: { loanNo: "{{body.loanNo}}" } },
            callbacks: [
              {
                name: "result",
                delayMs: 10,
                body: { loanNo: "{{businessKey}}", status: "SUCCESS", amount: "{{body.amount}}" },
              },
            ],
          },
          "POST /loan/query": {
            answer: {
              script: "processingThen",
              polls: 1,
              final: {
                script: "sequence",
                steps: [
                  {
                    script: "fixed",
                    status: 200,
                    body: { state: "PAID", ref: "R-{{body.loanNo}}-{{n}}" },
                  },
                  { script: "reject", code: "E9", message: "gone" },
                ],
              },
            },
          },
          "POST /repay": {
            answer: { script: "accept" },
            faults: [{ kind: "httpError", status: 502, calls: [1] }],
          },
        },
      }),
    ) as MockFunderConfig;
    const mock = await start(config);

    expect(
      await callFunder(mock.url, "/loan/apply", { body: { loanNo: "L1", amount: 1250 } }),
    ).toMatchObject({ body: { status: "PROCESSING", loanNo: "L1" } });
    await mock.callbacksSettled();
    expect(engine.received.map((callback) => callback.body)).toEqual([
      { loanNo: "L1", status: "SUCCESS", amount: 1250 },
    ]);

    const polls = [];
    for (let index = 0; index < 3; index++) {
      const result = await callFunder(mock.url, "/loan/query", { body: { loanNo: "L1" } });
      polls.push(result.kind === "answered" ? result.body : result.kind);
    }
    expect(polls).toEqual([
      expect.objectContaining({ status: "PROCESSING" }),
      { state: "PAID", ref: "R-L1-1" },
      expect.objectContaining({ code: "E9" }),
    ]);

    expect(await callFunder(mock.url, "/repay")).toMatchObject({ status: 502 });
    expect(await callFunder(mock.url, "/repay")).toMatchObject({ status: 200 });
    expect(mock.seed).toBe(7);
  });

  it("accepts probabilistic faults, replayed by seed", async () => {
    const config: MockFunderConfig = {
      seed: 3,
      endpoints: {
        "POST /loan/apply": {
          answer: { script: "accept" },
          faults: [{ kind: "resetAfterProcessing", probability: 0.5 }],
        },
      },
    };
    const outcomes = async () => {
      const mock = await start(config);
      const kinds = [];
      for (let index = 0; index < 12; index++)
        kinds.push((await callFunder(mock.url, "/loan/apply")).kind);
      return kinds;
    };
    const first = await outcomes();
    expect(await outcomes()).toEqual(first);
    expect(first).toContain("connectionLost");
    expect(first).toContain("answered");
  });

  it.each([
    [{}, "", /"endpoints"/],
    [{ endpoints: { "/loan": { answer: { script: "accept" } } } }, "/endpoints/~1loan", /METHOD/],
    [
      { endpoints: { "POST /a": { answer: { script: "approve" } } } },
      "/endpoints/POST ~1a/answer",
      /names its script/,
    ],
    [
      {
        endpoints: {
          "POST /a": {
            answer: { script: "processingThen", polls: -1, final: { script: "accept" } },
          },
        },
      },
      "/endpoints/POST ~1a/answer/polls",
      /polls/,
    ],
    [
      { endpoints: { "POST /a": { answer: { script: "accept" }, faults: [{ kind: "explode" }] } } },
      "/endpoints/POST ~1a/faults/0/kind",
      /known faults: latency/,
    ],
    [
      {
        endpoints: {
          "POST /a": {
            answer: { script: "accept" },
            faults: [{ kind: "latency", probability: 2 }],
          },
        },
      },
      "/endpoints/POST ~1a/faults/0/probability",
      /from 0 to 1/,
    ],
  ])(
    "rejects an invalid configuration with a pointer to the problem (%#)",
    (config, pointer, message) => {
      let thrown: unknown;
      try {
        mockFunderOptionsFromConfig(config as unknown as MockFunderConfig, crypto);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: "CONFIG_INVALID", context: { pointer } });
      expect((thrown as Error).message).toMatch(message);
    },
  );
});
