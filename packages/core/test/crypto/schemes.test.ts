import { describe, expect, it } from "vitest";
import { mirrorCryptoOptions, type PartnerKeySet } from "../../src/crypto/configurable/mirror.ts";
import type { ConfigurableCryptoOptions } from "../../src/crypto/configurable/options.ts";
import type { CryptoHandler, WireRequest } from "../../src/crypto/handler.ts";
import type { Codec } from "../../src/message/codec.ts";
import { flatXmlCodec, formCodec, jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor, TestClock } from "../support/crypto/handlers.ts";
import {
  jadeOptions,
  jadePartnerKeys,
  lanbankOptions,
  lanbankPartnerKeys,
  meadowOptions,
} from "../support/crypto/schemes.ts";
import {
  partner,
  platform,
  sm2Partner,
  sm2Platform,
  stranger,
} from "../support/crypto/test-keys.ts";

interface Scheme {
  name: string;
  options: () => ConfigurableCryptoOptions;
  partnerKeys: PartnerKeySet;
  requestCodec: Codec;
  responseCodec: Codec;
  secrets: string[];
}

const schemes: Scheme[] = [
  {
    name: "lanbank (RSA-SHA256 + AES-256-GCM envelope, RSA PKCS#1 v1.5 wrapped key)",
    options: lanbankOptions,
    partnerKeys: lanbankPartnerKeys,
    requestCodec: jsonCodec,
    responseCodec: jsonCodec,
    secrets: [platform.privatePem, partner.privatePem],
  },
  {
    name: "meadow (MD5 &key= over form requests and XML answers)",
    options: meadowOptions,
    partnerKeys: {},
    requestCodec: formCodec,
    responseCodec: flatXmlCodec,
    secrets: ["meadow-test-md5-key-0123456789"],
  },
  {
    name: "jade-trust (SM2-SM3 signature + SM4-CBC envelope, SM2 wrapped key)",
    options: jadeOptions,
    partnerKeys: jadePartnerKeys,
    requestCodec: jsonCodec,
    responseCodec: jsonCodec,
    secrets: [sm2Platform.privateKey, sm2Partner.privateKey],
  },
];

const business = { loan_no: "L20260115001", amount: "1250.00", id_card: "110101199003077777" };

async function pair(scheme: Scheme, clock = new TestClock()) {
  const client = await handlerFor(scheme.options(), { clock });
  const mock = await handlerFor(mirrorCryptoOptions(scheme.options(), scheme.partnerKeys), {
    clock,
  });
  return { client, mock, clock };
}

async function expectFailure(promise: Promise<unknown>, code: string, secrets: string[]) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code });
  const json = JSON.stringify(error);
  const text = `${String((error as Error).message)} ${json} ${String((error as Error).stack)}`;
  for (const secret of [...secrets, business.id_card]) {
    expect(text).not.toContain(secret);
  }
  expect(json).toContain("test-channel");
}

function mutate(text: string, field: string, codec: Codec): string {
  const decoded = codec.decode(text) as Record<string, string>;
  const value = decoded[field] ?? "";
  const i = Math.floor(value.length / 2);
  // "0"/"1" change the value in hex (whatever its case) and in base64 alike; swapping a letter for
  // its other case would not change a hex signature and the forgery would verify.
  const swap = value[i] === "0" ? "1" : "0";
  decoded[field] = value.slice(0, i) + swap + value.slice(i + 1);
  return codec.encode(decoded);
}

/** A loan application sealed with the scheme's request codec. */
const sealApplication = (scheme: Scheme, handler: CryptoHandler) =>
  handler.sealRequest({
    method: "POST",
    path: "/loan/apply",
    headers: {},
    query: {},
    body: business,
    codec: scheme.requestCodec,
  });

describe.each(schemes)("$name", (scheme) => {
  const seal = (handler: CryptoHandler) => sealApplication(scheme, handler);

  it("round trip: request, answer, callback, acknowledgement", async () => {
    const { client, mock } = await pair(scheme);
    const wire = await seal(client);
    expect(wire.body).not.toContain(scheme === schemes[1] ? "\u0000" : business.id_card);
    const received = await mock.openRequest(wire, scheme.requestCodec);
    expect(received.body).toMatchObject(business);

    const answer = await mock.sealResponse(
      {
        status: 200,
        headers: {},
        body: { code: "0000", loan_no: business.loan_no },
        codec: scheme.responseCodec,
      },
      received,
    );
    const opened = await client.openResponse(answer, wire, scheme.responseCodec);
    expect(opened.body).toMatchObject({ code: "0000", loan_no: business.loan_no });

    const notice = await mock.sealRequest({
      method: "POST",
      path: "/callbacks/loan",
      headers: {},
      query: {},
      body: { loan_no: business.loan_no, status: "SUCCESS" },
      codec: scheme.responseCodec,
    });
    const callback = await client.openRequest(notice, scheme.responseCodec);
    expect(callback.body).toMatchObject({ status: "SUCCESS" });
    const ack = await client.sealResponse(
      { status: 200, headers: {}, body: { code: "SUCCESS" }, codec: jsonCodec },
      callback,
    );
    expect((await mock.openResponse(ack, notice, jsonCodec)).body).toEqual({ code: "SUCCESS" });
  });

  it("rejects a forged signature", async () => {
    const { client, mock } = await pair(scheme);
    const wire = await seal(client);
    const field = scheme === schemes[2] ? "signData" : "sign";
    const forged = {
      ...wire,
      body: mutate(wire.body, field, scheme === schemes[1] ? formCodec : jsonCodec),
    };
    await expectFailure(
      mock.openRequest(forged, scheme.requestCodec),
      "CRYPTO_VERIFY_FAILED",
      scheme.secrets,
    );
  });

  it("rejects a message signed with a key it does not trust", async () => {
    const { client } = await pair(scheme);
    const options = scheme.options();
    const strangerKeys: PartnerKeySet =
      scheme === schemes[0]
        ? { ...lanbankPartnerKeys, signing: { ref: `inline:${stranger.privatePem}` } }
        : scheme === schemes[2]
          ? { ...jadePartnerKeys, signing: { ref: `inline:${sm2Platform.privateKey}` } }
          : {};
    const impostor =
      scheme === schemes[1]
        ? await handlerFor({
            ...mirrorCryptoOptions(options, {}),
            keys: { secret: { ref: "inline:another-md5-key" } },
          })
        : await handlerFor(mirrorCryptoOptions(options, strangerKeys));
    const notice = await impostor.sealRequest({
      method: "POST",
      path: "/callbacks/loan",
      headers: {},
      query: {},
      body: { loan_no: business.loan_no, status: "SUCCESS" },
      codec: scheme.responseCodec,
    });
    await expectFailure(
      client.openRequest(notice, scheme.responseCodec),
      "CRYPTO_VERIFY_FAILED",
      scheme.secrets,
    );
  });
});

const withWindow = (scheme: Scheme) => scheme.options().request?.timestamp?.window !== undefined;

describe("replay windows", () => {
  it("lanbank and jade-trust have one, meadow relies on nonce and deduplication", () => {
    expect(schemes.filter(withWindow)).toEqual([schemes[0], schemes[2]]);
  });

  it.each(schemes.filter(withWindow))(
    "$name accepts a message inside its window and rejects one outside it",
    async (scheme) => {
      const { client, mock, clock } = await pair(scheme);
      const wire = await sealApplication(scheme, client);
      clock.ms += 4 * 60_000;
      await expect(mock.openRequest(wire, scheme.requestCodec)).resolves.toMatchObject({
        body: business,
      });
      clock.ms += 7 * 60_000;
      await expectFailure(
        mock.openRequest(wire, scheme.requestCodec),
        "CRYPTO_VERIFY_FAILED",
        scheme.secrets,
      );
    },
  );
});

describe.each([schemes[0] as Scheme, schemes[2] as Scheme])("$name: encryption", (scheme) => {
  const lanbank = scheme === schemes[0];
  const dataField = lanbank ? "data" : "encryptData";
  const keyField = lanbank ? "key" : "encryptKey";

  it("keeps the business data out of the wire body", async () => {
    const { client } = await pair(scheme);
    const wire = await client.sealRequest({
      method: "POST",
      path: "/x",
      headers: {},
      query: {},
      body: business,
      codec: jsonCodec,
    });
    expect(wire.body).not.toContain(business.id_card);
    expect(Object.keys(JSON.parse(wire.body))).toEqual(
      expect.arrayContaining([dataField, keyField]),
    );
  });

  it("a tampered ciphertext or wrapped key fails uniformly, without leaking", async () => {
    const { client, mock } = await pair(scheme);
    const wire: WireRequest = await client.sealRequest({
      method: "POST",
      path: "/x",
      headers: {},
      query: {},
      body: business,
      codec: jsonCodec,
    });
    for (const field of [dataField, keyField]) {
      const tampered = { ...wire, body: mutate(wire.body, field, jsonCodec) };
      const error = await mock.openRequest(tampered, jsonCodec).then(
        () => undefined,
        (e: unknown) => e,
      );
      // lanbank signs the envelope (verification fails first); jade signs the plaintext, so
      // decryption runs first and fails.
      expect(error).toMatchObject({
        code: lanbank ? "CRYPTO_VERIFY_FAILED" : "CRYPTO_DECRYPT_FAILED",
      });
      const text = `${(error as Error).message}${JSON.stringify(error)}`;
      for (const secret of [...scheme.secrets, business.id_card])
        expect(text).not.toContain(secret);
    }
  });
});
