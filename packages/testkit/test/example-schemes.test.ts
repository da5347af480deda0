import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  type ChannelDefinition,
  type Codec,
  codecFor,
  createCryptoHandlerRegistry,
  createDefaultSecretResolver,
} from "@capflow/core";
import { afterEach, describe, expect, it } from "vitest";
import {
  accept,
  createFunderCryptoHandler,
  type Fault,
  type PartnerKeySet,
  startMockFunder,
} from "../src/index.ts";
import { callFunder } from "./support/engine-client.ts";

/**
 * The default tampering of `badSignature` and `malformedBody` must defeat every scheme the
 * examples use, without knowing where each one keeps its signature: RSA over sorted fields with
 * an AES envelope (lanbank), MD5 over form fields answered in XML (meadow), SM2 with an SM4
 * envelope (jade-trust).
 */
const schemes: { example: string; requestCodec: Codec; answerCodec: Codec }[] = [
  { example: "lanbank", requestCodec: codecFor("json"), answerCodec: codecFor("json") },
  {
    example: "meadow",
    requestCodec: codecFor("form"),
    answerCodec: codecFor("xml", { xml: { root: "xml" } }),
  },
  { example: "jade-trust", requestCodec: codecFor("json"), answerCodec: codecFor("json") },
];

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function handlersFor(example: string) {
  const definitions = fileURLToPath(
    new URL(`../../../examples/${example}/definitions/`, import.meta.url),
  );
  const channel = JSON.parse(
    await readFile(`${definitions}${example}.channel.json`, "utf8"),
  ) as ChannelDefinition;
  const { keys } = JSON.parse(
    await readFile(`${definitions}../keys/partner.crypto.json`, "utf8"),
  ) as { keys: PartnerKeySet };
  const deps = { secrets: createDefaultSecretResolver(), baseDir: definitions, channel: example };
  return {
    engineSide: await createCryptoHandlerRegistry().create(channel.crypto, deps),
    funderSide: await createFunderCryptoHandler(channel.crypto, keys, deps),
  };
}

describe.each(schemes)("$example scheme through the mock funder", (scheme) => {
  async function callWith(fault: Fault | undefined) {
    const { engineSide, funderSide } = await handlersFor(scheme.example);
    const mock = await startMockFunder({
      handler: funderSide,
      codec: scheme.requestCodec,
      answerCodec: scheme.answerCodec,
      endpoints: {
        "POST /loan/apply": {
          answer: accept({ loan_no: "L20260115001" }),
          faults: fault === undefined ? [] : [{ fault }],
        },
      },
    });
    closers.push(() => mock.close());
    const result = await callFunder(mock.url, "/loan/apply", {
      handler: engineSide,
      codec: scheme.requestCodec,
      answerCodec: scheme.answerCodec,
      body: { loan_no: "L20260115001", amount: "1250.00" },
    });
    if (result.kind === "answered") return { opened: result.body };
    if (result.kind === "notOpened") return { error: result.code };
    return { lost: result.kind };
  }

  it("an answer opens", async () => {
    expect(await callWith(undefined)).toMatchObject({
      opened: expect.objectContaining({ status: "SUCCESS", loan_no: "L20260115001" }),
    });
  });

  it("badSignature: the answer fails verification or decryption", async () => {
    expect(await callWith({ kind: "badSignature" })).toMatchObject({
      error: expect.stringMatching(/^CRYPTO_/),
    });
  });

  it("malformedBody: the answer does not open", async () => {
    expect(await callWith({ kind: "malformedBody" })).toMatchObject({
      error: expect.any(String),
    });
  });
});
