import { type Transport, UndiciTransport } from "@capflow/core";
import { afterEach, describe, expect, it } from "vitest";
import { accept, byField, type Fault, type MockFunder, startMockFunder } from "../src/index.ts";
import { funderSecret } from "./support/engine-client.ts";
import { hmacHandler } from "./support/hmac-handler.ts";
import { jsonCodec } from "./support/json-codec.ts";

/**
 * The mock's faults as the engine's own transport classifies them: the engine must read a timeout
 * or a lost connection after sending as an unknown outcome, even when (as with a reset before
 * processing) the funder did nothing: it cannot tell, so it must query before resending.
 */
const handler = hmacHandler(funderSecret);
let mock: MockFunder | undefined;
let transport: Transport | undefined;
afterEach(async () => {
  await transport?.close();
  await mock?.close();
  transport = undefined;
  mock = undefined;
});

async function sendWith(fault: Fault | undefined): Promise<unknown> {
  mock = await startMockFunder({
    handler,
    codec: jsonCodec,
    businessKey: byField("loanNo"),
    endpoints: {
      "POST /loan/apply": {
        answer: accept(),
        faults: fault === undefined ? [] : [{ fault }],
      },
    },
  });
  transport = new UndiciTransport();
  const wire = await handler.sealRequest({
    method: "POST",
    path: "/loan/apply",
    headers: {},
    query: {},
    body: { loanNo: "L1" },
    codec: jsonCodec,
  });
  try {
    return await transport.send({
      url: `${mock.url}${wire.path}`,
      method: wire.method,
      headers: wire.headers,
      body: wire.body,
      timeoutMs: 300,
      connectTimeoutMs: 1_000,
    });
  } catch (error) {
    return error;
  }
}

describe("mock funder faults through the engine's undici transport", () => {
  it("an answer comes back and opens", async () => {
    const response = (await sendWith(undefined)) as { status: number; body: string };
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ status: "SUCCESS" });
  });

  it.each([
    ["timeoutAfterProcessing", { kind: "timeoutAfterProcessing" }, true],
    ["resetAfterProcessing", { kind: "resetAfterProcessing" }, true],
    ["resetBeforeProcessing", { kind: "resetBeforeProcessing" }, false],
  ] as const)("%s is an unknown outcome to the engine", async (_name, fault, processed) => {
    const error = await sendWith(fault);
    expect(error).toMatchObject({ code: "TRANSPORT_UNKNOWN_OUTCOME" });
    await expect.poll(() => mock?.requests()[0]?.outcome).not.toBe("pending");
    expect(mock?.requests()[0]).toMatchObject({ fault: fault.kind, processed });
    expect(mock?.countBy("L1")).toBe(1);
  });

  it("a closed funder is 'not sent'", async () => {
    mock = await startMockFunder({ handler, codec: jsonCodec, endpoints: {} });
    const url = mock.url;
    await mock.close();
    transport = new UndiciTransport();
    const error = await transport
      .send({ url, method: "POST", headers: {}, body: "{}", timeoutMs: 300, connectTimeoutMs: 300 })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "TRANSPORT_NOT_SENT" });
  });
});
