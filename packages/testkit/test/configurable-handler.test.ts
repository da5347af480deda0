import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  type ChannelDefinition,
  type CryptoHandler,
  codecFor,
  createCryptoHandlerRegistry,
  createDefaultSecretResolver,
} from "@capflow/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  accept,
  byField,
  createFunderCryptoHandler,
  type MockFunder,
  type PartnerKeySet,
  startMockFunder,
  withCallbacks,
} from "../src/index.ts";
import { startCallbackReceiver } from "./support/callback-receiver.ts";
import { callFunder } from "./support/engine-client.ts";

/**
 * The mock funder with a real channel's crypto: the Lan Bank example (SHA256withRSA over sorted
 * fields, AES-256-GCM envelope with an RSA-wrapped key). The engine's side is built from the
 * channel definition; the funder's side is the same definition mirrored with the funder's keys.
 */
const definitions = fileURLToPath(
  new URL("../../../examples/lanbank/definitions/", import.meta.url),
);
const json = codecFor("json");
let engineSide: CryptoHandler;
let funderSide: CryptoHandler;

beforeAll(async () => {
  const channel = JSON.parse(
    await readFile(`${definitions}lanbank.channel.json`, "utf8"),
  ) as ChannelDefinition;
  const partnerFile = JSON.parse(
    await readFile(`${definitions}../keys/partner.crypto.json`, "utf8"),
  ) as { keys: PartnerKeySet };
  const registry = createCryptoHandlerRegistry();
  const deps = { secrets: createDefaultSecretResolver(), baseDir: definitions, channel: "lanbank" };
  engineSide = await registry.create(channel.crypto, deps);
  funderSide = await createFunderCryptoHandler(channel.crypto, partnerFile.keys, deps);
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function lanbank(callbackUrl: string): Promise<MockFunder> {
  const mock = await startMockFunder({
    handler: funderSide,
    codec: json,
    businessKey: byField("loan_no"),
    callbacks: { url: callbackUrl, attempts: 2, intervalMs: 10 },
    endpoints: {
      "POST /loan/apply": {
        answer: withCallbacks(accept({ loan_no: "L1" }), (call) => ({
          body: { loan_no: call.businessKey, status: "SUCCESS" },
          delayMs: 10,
        })),
      },
    },
  });
  cleanups.push(() => mock.close());
  return mock;
}

describe("mock funder with the configurable handler mirrored for the funder", () => {
  it("opens the engine's sealed request, answers sealed, and sends a sealed callback the engine verifies", async () => {
    const engine = await startCallbackReceiver(() => "acknowledge", engineSide, json);
    cleanups.push(engine.close);
    const mock = await lanbank(engine.url);
    const result = await callFunder(mock.url, "/loan/apply", {
      handler: engineSide,
      codec: json,
      body: { loan_no: "L1", amount: "1250.00" },
    });
    expect(result).toMatchObject({ kind: "answered", status: 200, body: { status: "SUCCESS" } });
    // On the wire the business fields are encrypted; the funder reads them in clear.
    expect(mock.requests()[0]).toMatchObject({
      businessKey: "L1",
      body: expect.objectContaining({ loan_no: "L1", amount: "1250.00" }),
      processed: true,
    });
    await mock.callbacksSettled();
    expect(engine.received[0]?.body).toMatchObject({ loan_no: "L1", status: "SUCCESS" });
    expect(mock.callbacks()[0]).toMatchObject({
      state: "acknowledged",
      acknowledgement: { body: expect.objectContaining({ code: "SUCCESS" }) },
    });
  });

  it("a tampered answer fails the engine's verification", async () => {
    const engine = await startCallbackReceiver(() => "acknowledge", engineSide, json);
    cleanups.push(engine.close);
    const mock = await lanbank(engine.url);
    mock.injectFault("POST /loan/apply", { fault: { kind: "badSignature" } });
    const result = await callFunder(mock.url, "/loan/apply", {
      handler: engineSide,
      codec: json,
      body: { loan_no: "L1" },
    });
    expect(result).toMatchObject({ kind: "notOpened", status: 200 });
    if (result.kind === "notOpened") expect(result.code).toMatch(/^CRYPTO_/);
  });
});
