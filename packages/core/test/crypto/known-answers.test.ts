import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { sm2 } from "sm-crypto-v2";
import { describe, expect, it } from "vitest";
import type { ConfigurableCryptoOptions } from "../../src/crypto/configurable/options.ts";
import { flatXmlCodec } from "../support/crypto/codecs.ts";
import { handlerFor } from "../support/crypto/handlers.ts";

// WeChat Pay v2 signing example (pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3).
const wechatV2Params = {
  appid: "wxd930ea5d5a258f4f",
  mch_id: "10000100",
  device_info: "1000",
  body: "test",
  nonce_str: "ibuaiVcKdpRxkhJA",
};
const wechatV2Key = "inline:192006250b4c09247ec02edce69f6a2d";

function wechatV2Options(algorithm: "md5" | "hmac-sha256"): ConfigurableCryptoOptions {
  return {
    keys: { secret: { ref: wechatV2Key } },
    request: {
      signature: {
        algorithm,
        appendKey: "&key=",
        output: "hex-upper",
        canonical: { kind: "sortedFields", emptyValues: "drop" },
        placement: { in: "body", name: "sign" },
      },
    },
  };
}

async function wechatV2Sign(algorithm: "md5" | "hmac-sha256"): Promise<string> {
  const handler = await handlerFor(wechatV2Options(algorithm));
  const wire = await handler.sealRequest({
    method: "POST",
    path: "/pay/unifiedorder",
    headers: {},
    query: {},
    body: wechatV2Params,
    codec: flatXmlCodec,
  });
  return (flatXmlCodec.decode(wire.body) as Record<string, string>).sign ?? "";
}

describe("known answers", () => {
  it("WeChat Pay v2 MD5 signature, through the configurable handler", async () => {
    expect(await wechatV2Sign("md5")).toBe("9A0A8659F005D6984697E2CA0A9CF3B7");
  });

  it("WeChat Pay v2 HMAC-SHA256 signature, through the configurable handler", async () => {
    expect(await wechatV2Sign("hmac-sha256")).toBe(
      "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6",
    );
  });

  it("SM3 of 'abc' (GB/T 32905 example 1) on this Node's OpenSSL", () => {
    expect(createHash("sm3").update("abc").digest("hex")).toBe(
      "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    );
  });

  it("SM4 (GB/T 32907 example 1) on this Node's OpenSSL", () => {
    const key = Buffer.from("0123456789abcdeffedcba9876543210", "hex");
    const cipher = createCipheriv("sm4-ecb", key, null).setAutoPadding(false);
    const ct = Buffer.concat([cipher.update(key), cipher.final()]);
    expect(ct.toString("hex")).toBe("681edf34d206965e86b3e94f536e4246");
    const decipher = createDecipheriv("sm4-ecb", key, null).setAutoPadding(false);
    expect(Buffer.concat([decipher.update(ct), decipher.final()]).toString("hex")).toBe(
      "0123456789abcdeffedcba9876543210",
    );
  });

  describe("SM2 signature, GM/T 0003.5-2012 / GB/T 32918.5 Annex A (recommended curve)", () => {
    const d = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
    const pub =
      "04" +
      "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020" +
      "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
    const k = "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21";
    const r = "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3";
    const s = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";
    const message = "message digest";
    const userId = "1234567812345678";

    it("the public key is dA·G", () => {
      expect(sm2.getPublicKeyFromPrivateKey(d)).toBe(pub);
    });

    it("reproduces (r, s) byte-exactly with the standard's k", () => {
      const kG = sm2.getPublicKeyFromPrivateKey(k);
      const x1 = BigInt(`0x${kG.slice(2, 66)}`);
      const signature = sm2.doSignature(message, d, {
        hash: true,
        userId,
        publicKey: pub,
        pointPool: [{ k: BigInt(`0x${k}`), x1 }],
      });
      expect(signature).toBe(r + s);
    });

    it("verifies the standard's (r, s) through the configurable handler", async () => {
      const handler = await handlerFor({
        keys: {
          signing: { ref: `inline:${d}` },
          verifying: { ref: `inline:${pub}` },
        },
        response: {
          signature: {
            algorithm: "sm2-sm3",
            canonical: { kind: "rawBody" },
            placement: { in: "header", name: "x-sign" },
          },
        },
      });
      const sent = { method: "POST" as const, path: "/", headers: {}, query: {}, body: "" };
      const opened = await handler.openResponse(
        { status: 200, headers: { "X-Sign": r + s }, body: message },
        sent,
        { format: "text", contentType: "text/plain", encode: String, decode: (t) => t },
      );
      expect(opened.body).toBe(message);
      const tampered = `${r}${s.slice(0, -1)}b`;
      await expect(
        handler.openResponse(
          { status: 200, headers: { "x-sign": tampered }, body: message },
          sent,
          {
            format: "text",
            contentType: "text/plain",
            encode: String,
            decode: (t) => t,
          },
        ),
      ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
    });
  });
});
