import { afterEach, describe, expect, it } from "vitest";
import {
  accept,
  byField,
  createScriptHelpers,
  type EndpointOptions,
  type MockFunder,
  processing,
  processingThen,
  reject,
  sequence,
  startMockFunder,
} from "../src/index.ts";
import { callFunder, funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

let mock: MockFunder | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

async function serve(endpoint: EndpointOptions): Promise<MockFunder> {
  mock = await startMockFunder({
    handler: hmacHandler(funderSecret),
    codec: jsonCodec,
    businessKey: byField("loanNo"),
    endpoints: { "POST /loan/query": endpoint },
  });
  return mock;
}

async function query(funder: MockFunder, loanNo: string): Promise<unknown> {
  const result = await callFunder(funder.url, "/loan/query", { body: { loanNo } });
  if (result.kind !== "answered") throw new Error(`expected an answer, got ${result.kind}`);
  return result.body;
}

describe("endpoint scripts", () => {
  it("accept, reject and processing answer in the default shape, with extra fields", async () => {
    const funder = await serve({
      answer: (call) =>
        call.n === 1
          ? accept((request) => ({ loanNo: request.businessKey }))(call)
          : call.n === 2
            ? reject("E102", "card frozen")(call)
            : processing({ eta: "1m" })(call),
    });
    expect(await query(funder, "L1")).toEqual({
      code: "0000",
      message: "success",
      status: "SUCCESS",
      loanNo: "L1",
    });
    expect(await query(funder, "L1")).toEqual({
      code: "E102",
      message: "card frozen",
      status: "FAILED",
    });
    expect(await query(funder, "L1")).toMatchObject({ status: "PROCESSING", eta: "1m" });
  });

  it("a canned answer is served as is, with its status", async () => {
    const funder = await serve({ answer: { status: 202, body: { retCode: "00" } } });
    expect(await callFunder(funder.url, "/loan/query")).toMatchObject({
      status: 202,
      body: { retCode: "00" },
    });
  });

  it("processingThen answers PROCESSING for the first polls of each business key, then the final answer", async () => {
    const funder = await serve({ answer: processingThen(2, accept()) });
    const answers: string[] = [];
    for (const loanNo of ["L1", "L2", "L1", "L1", "L2", "L1", "L2"]) {
      answers.push(`${loanNo}:${((await query(funder, loanNo)) as { status: string }).status}`);
    }
    expect(answers).toEqual([
      "L1:PROCESSING",
      "L2:PROCESSING",
      "L1:PROCESSING",
      "L1:SUCCESS",
      "L2:PROCESSING",
      "L1:SUCCESS",
      "L2:SUCCESS",
    ]);
  });

  it("processingThen can end in a canned answer or a rejection", async () => {
    const funder = await serve({ answer: processingThen(1, reject("E404", "no such loan")) });
    expect(await query(funder, "L1")).toMatchObject({ status: "PROCESSING" });
    expect(await query(funder, "L1")).toMatchObject({ status: "FAILED", code: "E404" });
  });

  it("sequence answers the n-th call of each business key with the n-th step, then repeats the last", async () => {
    const funder = await serve({
      answer: sequence([reject("E500", "busy"), { body: { custom: true } }, accept()]),
    });
    const codes = [];
    for (let index = 0; index < 4; index++) codes.push(await query(funder, "L1"));
    codes.push(await query(funder, "L2"));
    expect(codes).toEqual([
      expect.objectContaining({ code: "E500" }),
      { custom: true },
      expect.objectContaining({ status: "SUCCESS" }),
      expect.objectContaining({ status: "SUCCESS" }),
      expect.objectContaining({ code: "E500" }),
    ]);
    expect(() => sequence([])).toThrow(/at least one/);
  });

  it("composed scripts count their own calls: sequence after polls, polls as a step", async () => {
    const funder = await serve({
      answer: processingThen(
        1,
        sequence([reject("E500", "busy"), processingThen(1, (call) => ({ body: { n: call.n } }))]),
      ),
    });
    const answers = [];
    for (let index = 0; index < 5; index++) answers.push(await query(funder, "L1"));
    expect(answers).toEqual([
      expect.objectContaining({ status: "PROCESSING" }),
      expect.objectContaining({ code: "E500" }),
      expect.objectContaining({ status: "PROCESSING" }),
      { n: 1 },
      { n: 2 },
    ]);
  });

  it("createScriptHelpers speaks another funder's spelling", async () => {
    const bank = createScriptHelpers({
      accepted: (fields) => ({ retCode: "00", retMsg: "OK", data: fields }),
      rejected: (code, message) => ({ retCode: code, retMsg: message }),
      processing: () => ({ retCode: "01", retMsg: "in progress" }),
    });
    const funder = await serve({
      answer: bank.processingThen(1, bank.accept({ loanState: "PAID" })),
    });
    expect(await query(funder, "L1")).toEqual({ retCode: "01", retMsg: "in progress" });
    expect(await query(funder, "L1")).toEqual({
      retCode: "00",
      retMsg: "OK",
      data: { loanState: "PAID" },
    });
  });

  it("an async script may compute its answer from shared test state", async () => {
    const booked = new Set<string>();
    const funder = await serve({
      answer: async (call) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const key = call.businessKey ?? "";
        const duplicate = booked.has(key);
        booked.add(key);
        return duplicate ? reject("E409", "already booked")(call) : accept()(call);
      },
    });
    expect(await query(funder, "L1")).toMatchObject({ status: "SUCCESS" });
    expect(await query(funder, "L1")).toMatchObject({ code: "E409" });
  });
});
