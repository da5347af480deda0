import { describe, expect, it } from "vitest";
import { mirrorCryptoOptions } from "../../src/crypto/configurable/mirror.ts";
import type { ConfigurableCryptoOptions } from "../../src/crypto/configurable/options.ts";
import type { CryptoHandler, WireRequest } from "../../src/crypto/handler.ts";
import { createRsaScheme } from "../../src/crypto/signers/rsa-signer.ts";
import { jsonCodec } from "../support/crypto/codecs.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { lanbankPartnerKeys } from "../support/crypto/schemes.ts";
import { inline, partner, platform } from "../support/crypto/test-keys.ts";
import { wherePromisesRan } from "../support/poll-phase.ts";

/** RSA-SHA256 signatures and an AES key wrapped with RSA-OAEP: both private-key operations. */
function sealedOptions(): ConfigurableCryptoOptions {
  const profile = {
    encryption: {
      cipher: "aes-256-cbc",
      contentKey: "wrapped",
      wrap: "rsa-oaep-sha256",
      iv: "field",
      envelope: { data: "data", key: "key", iv: "iv" },
    },
    signature: {
      algorithm: "rsa-sha256",
      canonical: { kind: "sortedFields" },
      placement: { in: "body", name: "sign" },
    },
  } as const;
  return {
    keys: {
      signing: { ref: inline(platform.privatePem) },
      verifying: { ref: inline(partner.publicPem) },
      encryption: { ref: inline(partner.publicPem) },
      decryption: { ref: inline(platform.privatePem) },
    },
    request: profile,
    response: profile,
  };
}

const request = (loanNo: string) => ({
  method: "POST" as const,
  path: "/loan/apply",
  headers: {},
  query: {},
  body: { loanNo, amount: "1000.00" },
  codec: jsonCodec,
});

async function answerTo(mock: CryptoHandler, wire: WireRequest) {
  const received = await mock.openRequest(wire, jsonCodec);
  return mock.sealResponse(
    { status: 200, headers: {}, body: { code: "0000", loanNo: "L-1" }, codec: jsonCodec },
    received,
  );
}

describe.each([
  { cryptoThreadPool: true, expected: "thread-pool" },
  { cryptoThreadPool: false, expected: "event-loop" },
] as const)(
  "private-key operations with cryptoThreadPool: $cryptoThreadPool",
  ({ cryptoThreadPool, expected }) => {
    it(`seals (signs) and opens (unwraps) on the ${expected}, and the partner reads it`, async () => {
      const client = await handlerFor(sealedOptions(), { cryptoThreadPool });
      const mock = await handlerFor(mirrorCryptoOptions(sealedOptions(), lanbankPartnerKeys));
      // The first message with a key prepares it (WebCrypto imports it once); measured are the next.
      const first = await client.sealRequest(request("L-0"));
      await client.openResponse(await answerTo(mock, first), first, jsonCodec);

      const wires: WireRequest[] = [];
      expect(
        await wherePromisesRan(
          Array.from({ length: 6 }, (_, i) => async () => {
            wires[i] = await client.sealRequest(request(`L-${i + 1}`));
          }),
        ),
      ).toBe(expected);
      const answers = await Promise.all(wires.map((wire) => answerTo(mock, wire)));
      const opened: unknown[] = [];
      expect(
        await wherePromisesRan(
          answers.map((answer, i) => async () => {
            opened[i] = (
              await client.openResponse(answer, wires[i] as WireRequest, jsonCodec)
            ).body;
          }),
        ),
      ).toBe(expected);
      expect(opened).toEqual(answers.map(() => ({ code: "0000", loanNo: "L-1" })));
    });

    it("refuses an answer whose signature was altered, as before", async () => {
      const client = await handlerFor(sealedOptions(), { cryptoThreadPool });
      const mock = await handlerFor(mirrorCryptoOptions(sealedOptions(), lanbankPartnerKeys));
      const wire = await client.sealRequest(request("L-9"));
      const answer = await answerTo(mock, wire);
      const body = JSON.parse(answer.body) as Record<string, string>;
      const sign = Buffer.from(body.sign as string, "base64");
      sign[10] = (sign[10] ?? 0) ^ 1;
      const forged = {
        ...answer,
        body: JSON.stringify({ ...body, sign: sign.toString("base64") }),
      };
      await expect(client.openResponse(forged, wire, jsonCodec)).rejects.toMatchObject({
        code: "CRYPTO_VERIFY_FAILED",
      });
    });
  },
);

describe("RSA signatures", () => {
  const data = Buffer.from("amount=1000.00&loanNo=L-1", "utf8");
  const signing = { kind: "private", key: platform.privateKey } as const;
  const verifying = { kind: "public", key: platform.publicKey } as const;

  it("are the same bytes on the event loop and on the thread pool (PKCS#1 v1.5 is deterministic)", async () => {
    const onPool = await createRsaScheme("rsa-sha256", signing, 32, true).sign(data);
    const onLoop = await createRsaScheme("rsa-sha256", signing, 32, false).sign(data);
    expect(onLoop.equals(onPool)).toBe(true);
  });

  it("are verified on the event loop, and a malformed signature is false, not an error", async () => {
    const scheme = createRsaScheme("rsa-sha256", signing, 32);
    const signature = await scheme.sign(data);
    const checks = [
      () => scheme.verify(data, signature, verifying),
      () => scheme.verify(Buffer.from("amount=9000.00&loanNo=L-1"), signature, verifying),
      () => scheme.verify(data, Buffer.from("not a signature"), verifying),
      () => scheme.verify(data, Buffer.alloc(0), verifying),
    ];
    const results: boolean[] = [];
    expect(
      await wherePromisesRan(
        checks.map((check, i) => async () => {
          results[i] = await check();
        }),
      ),
    ).toBe("event-loop");
    expect(results).toEqual([true, false, false, false]);
  });

  it("with PSS on the event loop, verify what the thread pool signed", async () => {
    const onPool = createRsaScheme("rsa-pss-sha256", signing, 32, true);
    const onLoop = createRsaScheme("rsa-pss-sha256", signing, 32, false);
    expect(await onPool.verify(data, await onLoop.sign(data), verifying)).toBe(true);
    expect(await onLoop.verify(data, await onPool.sign(data), verifying)).toBe(true);
  });
});
