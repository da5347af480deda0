import { AlipaySdk } from "alipay-sdk";
import { describe, expect, it } from "vitest";
import wechatpay from "wechatpay-axios-plugin";
import { mirrorCryptoOptions } from "../../src/crypto/configurable/mirror.ts";
import type {
  ConfigurableCryptoOptions,
  MessageProfile,
} from "../../src/crypto/configurable/options.ts";
import { formCodec } from "../../src/message/codecs/form-codec.ts";
import { jsonCodec } from "../../src/message/codecs/json-codec.ts";
import { handlerFor, TestClock } from "../support/crypto/handlers.ts";
import { inline, partner, platform } from "../support/crypto/test-keys.ts";

const { Aes, Formatter, Hash, Rsa } = wechatpay as unknown as {
  Aes: {
    AesGcm: {
      encrypt(p: string, k: string, iv: string, aad: string): string;
      decrypt(c: string, k: string, iv: string, aad: string): string;
    };
  };
  Formatter: {
    request(method: string, uri: string, ts: string | number, nonce: string, body?: string): string;
    response(ts: string | number, nonce: string, body?: string): string;
    authorization(
      mchid: string,
      nonce: string,
      signature: string,
      ts: string | number,
      serial: string,
    ): string;
  };
  Hash: { sign(type: string, data: Record<string, string>, key: string): string };
  Rsa: {
    sign(message: string, key: unknown): string;
    verify(message: string, signature: string, key: unknown): boolean;
  };
};

describe("Alipay OpenAPI 2.0 RSA2 parameter signatures, against alipay-sdk v4", () => {
  const alipayProfile: MessageProfile = {
    timestamp: { in: "body", name: "timestamp", format: "pattern", pattern: "yyyy-MM-dd HH:mm:ss" },
    fields: { app_id: "2021000000000001", charset: "utf-8", sign_type: "RSA2", version: "1.0" },
    signature: {
      algorithm: "rsa-sha256",
      canonical: { kind: "sortedFields", exclude: [], emptyValues: "drop" },
      placement: { in: "body", name: "sign" },
    },
  };
  const options: ConfigurableCryptoOptions = {
    keys: {
      signing: { ref: inline(platform.privatePem) },
      verifying: { ref: inline(partner.publicPem) },
    },
    request: alipayProfile,
    callback: alipayProfile,
  };

  it("the SDK verifies what the handler signs", async () => {
    const handler = await handlerFor(options);
    const wire = await handler.sealRequest({
      method: "POST",
      path: "/gateway.do",
      headers: {},
      query: {},
      body: {
        method: "alipay.trade.query",
        biz_content: JSON.stringify({ out_trade_no: "T20260115001", 备注: "中文" }),
      },
      codec: formCodec,
    });
    const params = formCodec.decode(wire.body) as Record<string, string>;
    const sdk = new AlipaySdk({
      appId: "2021000000000001",
      privateKey: partner.privatePem,
      keyType: "PKCS8",
      alipayPublicKey: platform.publicPem,
    });
    expect(sdk.checkNotifySignV2(params)).toBe(true);
    expect(
      sdk.checkNotifySignV2({
        ...params,
        biz_content: params.biz_content?.replace("T2026", "T2027"),
      }),
    ).toBe(false);
  });

  it("the handler verifies what the SDK signs (sdkExecute order string)", async () => {
    const sdk = new AlipaySdk({
      appId: "2021000000000001",
      privateKey: partner.privatePem,
      keyType: "PKCS8",
      alipayPublicKey: platform.publicPem,
    });
    const signed = sdk.sdkExecute("alipay.trade.app.pay", {
      notifyUrl: "https://platform.example/callbacks/alipay",
      bizContent: { outTradeNo: "T20260115002", totalAmount: "88.88", subject: "还款 repayment" },
    });
    const handler = await handlerFor(options);
    const opened = await handler.openRequest(
      { method: "POST", path: "/callbacks/alipay", headers: {}, query: {}, body: signed },
      formCodec,
    );
    expect(opened.body).toMatchObject({ method: "alipay.trade.app.pay", sign_type: "RSA2" });
    const forged = signed.replace("88.88", "99.99");
    await expect(
      handler.openRequest(
        { method: "POST", path: "/callbacks/alipay", headers: {}, query: {}, body: forged },
        formCodec,
      ),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });
});

describe("WeChat Pay APIv3, against wechatpay-axios-plugin", () => {
  const mchid = "1900000001";
  const merchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
  const platformSerial = "7132D72A03E93CDDF8C03BBD1F37EEDF7F8B2D6E";
  const apiV3Key = "0123456789abcdefghijklmnopqrstuv";
  const response: MessageProfile = {
    timestamp: { in: "header", name: "Wechatpay-Timestamp", format: "unixSeconds", window: "5m" },
    nonce: { in: "header", name: "Wechatpay-Nonce" },
    keyId: { in: "header", name: "Wechatpay-Serial" },
    signature: {
      algorithm: "rsa-sha256",
      canonical: { kind: "template", template: "{timestamp}\n{nonce}\n{body}\n" },
      placement: { in: "header", name: "Wechatpay-Signature" },
    },
  };
  const options: ConfigurableCryptoOptions = {
    keys: {
      // The merchant's API key and certificate serial; WeChat Pay's platform certificate(s).
      signing: { ref: inline(platform.privatePem), id: merchantSerial },
      verifying: [{ ref: inline(partner.publicPem), id: platformSerial }],
      resourceKey: { ref: `inline:${apiV3Key}` },
    },
    request: {
      timestamp: { format: "unixSeconds" },
      nonce: { length: 32 },
      signature: {
        algorithm: "rsa-sha256",
        canonical: {
          kind: "template",
          template: "{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n",
        },
        placement: {
          in: "header",
          name: "Authorization",
          template:
            'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",serial_no="{serial}",timestamp="{timestamp}",nonce_str="{nonce}",signature="{signature}"',
          values: { mchid },
        },
      },
    },
    response,
    callback: { ...response, resource: { field: "resource" } },
  };
  const clock = new TestClock(Date.now());

  it("the Authorization header equals the SDK's, byte for byte, and verifies with Rsa.verify", async () => {
    const handler = await handlerFor(options, { clock });
    const body = { mchid, out_trade_no: "T20260115003", amount: { total: 100, currency: "CNY" } };
    const wire = await handler.sealRequest({
      method: "POST",
      path: "/v3/pay/transactions/jsapi",
      headers: {},
      query: {},
      body,
      codec: jsonCodec,
    });
    const header = wire.headers.authorization ?? "";
    const [, ts = "", nonce = ""] = /timestamp="(\d+)",nonce_str="([^"]+)"/.exec(header) ?? [];
    const message = Formatter.request("POST", "/v3/pay/transactions/jsapi", ts, nonce, wire.body);
    const expected = Formatter.authorization(
      mchid,
      nonce,
      Rsa.sign(message, platform.privateKey),
      ts,
      merchantSerial,
    );
    expect(header).toBe(expected);
    const signature = /signature="([^"]+)"/.exec(header)?.[1] ?? "";
    expect(Rsa.verify(message, signature, platform.publicKey)).toBe(true);
  });

  it("a GET is signed over its query string and an empty body, as the SDK signs it", async () => {
    const handler = await handlerFor(options, { clock });
    const wire = await handler.sealRequest({
      method: "GET",
      path: "/v3/pay/transactions/out-trade-no/T1",
      headers: {},
      query: { mchid },
      body: undefined,
      codec: jsonCodec,
    });
    expect(wire.body).toBe("");
    const header = wire.headers.authorization ?? "";
    const [, ts = "", nonce = ""] = /timestamp="(\d+)",nonce_str="([^"]+)"/.exec(header) ?? [];
    const signature = /signature="([^"]+)"/.exec(header)?.[1] ?? "";
    const message = Formatter.request(
      "GET",
      `/v3/pay/transactions/out-trade-no/T1?mchid=${mchid}`,
      ts,
      nonce,
      "",
    );
    expect(Rsa.verify(message, signature, platform.publicKey)).toBe(true);
    expect(header).toBe(
      Formatter.authorization(
        mchid,
        nonce,
        Rsa.sign(message, platform.privateKey),
        ts,
        merchantSerial,
      ),
    );
  });

  it("a 204 the SDK signs over the empty body opens as an empty message; altered, it is refused", async () => {
    const handler = await handlerFor(options, { clock });
    const ts = String(Math.floor(clock.now() / 1000));
    const nonce = "C0FFEE";
    const headers = {
      "Wechatpay-Timestamp": ts,
      "Wechatpay-Nonce": nonce,
      "Wechatpay-Serial": platformSerial,
      "Wechatpay-Signature": Rsa.sign(Formatter.response(ts, nonce, ""), partner.privateKey),
    };
    const sent = {
      method: "POST" as const,
      path: "/v3/pay/transactions/out-trade-no/T1/close",
      headers: {},
      query: {},
      body: "{}",
    };
    const opened = await handler.openResponse({ status: 204, headers, body: "" }, sent, jsonCodec);
    expect(opened).toMatchObject({ body: {}, text: "" });
    await expect(
      handler.openResponse({ status: 204, headers, body: "{}" }, sent, jsonCodec),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });

  it("verifies an SDK-signed answer and rejects an unknown serial", async () => {
    const handler = await handlerFor(options, { clock });
    const body = JSON.stringify({ prepay_id: "wx201410272009395522657a690389285100" });
    const ts = String(Math.floor(clock.now() / 1000));
    const nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
    const headers = {
      "Wechatpay-Timestamp": ts,
      "Wechatpay-Nonce": nonce,
      "Wechatpay-Serial": platformSerial,
      "Wechatpay-Signature": Rsa.sign(Formatter.response(ts, nonce, body), partner.privateKey),
    };
    const sent = {
      method: "POST" as const,
      path: "/v3/pay/transactions/jsapi",
      headers: {},
      query: {},
      body: "",
    };
    const opened = await handler.openResponse({ status: 200, headers, body }, sent, jsonCodec);
    expect(opened.body).toEqual({ prepay_id: "wx201410272009395522657a690389285100" });
    await expect(
      handler.openResponse(
        { status: 200, headers: { ...headers, "Wechatpay-Serial": "0BADC0DE" }, body },
        sent,
        jsonCodec,
      ),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED", context: { keyId: "0BADC0DE" } });
  });

  it("opens an SDK-made callback: verifies the headers and decrypts the AEAD_AES_256_GCM resource", async () => {
    const handler = await handlerFor(options, { clock });
    const transaction = {
      out_trade_no: "T20260115003",
      trade_state: "SUCCESS",
      amount: { total: 100 },
    };
    const nonce = "fdasflkja484";
    const aad = "transaction";
    const body = JSON.stringify({
      id: "EV-2018022511223320873",
      event_type: "TRANSACTION.SUCCESS",
      resource: {
        algorithm: "AEAD_AES_256_GCM",
        ciphertext: Aes.AesGcm.encrypt(JSON.stringify(transaction), apiV3Key, nonce, aad),
        nonce,
        associated_data: aad,
      },
    });
    const ts = String(Math.floor(clock.now() / 1000));
    const headers = {
      "wechatpay-timestamp": ts,
      "wechatpay-nonce": "n1",
      "wechatpay-serial": platformSerial,
      "wechatpay-signature": Rsa.sign(Formatter.response(ts, "n1", body), partner.privateKey),
    };
    const request = {
      method: "POST" as const,
      path: "/callbacks/wechatpay",
      headers,
      query: {},
      body,
    };
    const opened = await handler.openRequest(request, jsonCodec);
    expect(opened.body).toMatchObject({ event_type: "TRANSACTION.SUCCESS", resource: transaction });

    // Altered associated data fails the tag, after a valid signature (re-signed by the partner key).
    const altered = body.replace('"associated_data":"transaction"', '"associated_data":"refund"');
    const resigned = {
      ...headers,
      "wechatpay-signature": Rsa.sign(Formatter.response(ts, "n1", altered), partner.privateKey),
    };
    const error = await handler
      .openRequest({ ...request, headers: resigned, body: altered }, jsonCodec)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: "CRYPTO_DECRYPT_FAILED" });
    expect(JSON.stringify(error)).not.toContain(apiV3Key);
    expect(String((error as Error).message)).not.toContain("T20260115003");

    // An old callback is replayed: outside the 5 minute window.
    const later = await handlerFor(options, { clock: new TestClock(clock.now() + 6 * 60_000) });
    await expect(later.openRequest(request, jsonCodec)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("a mirrored partner handler makes callbacks the SDK can decrypt and verify", async () => {
    const mock = await handlerFor(
      mirrorCryptoOptions(options, {
        signing: { ref: inline(partner.privatePem), id: platformSerial },
        verifying: { ref: inline(platform.publicPem), id: merchantSerial },
      }),
      { clock },
    );
    const wire = await mock.sealRequest({
      method: "POST",
      path: "/callbacks/wechatpay",
      headers: {},
      query: {},
      body: { id: "EV-1", resource: { out_trade_no: "T1", trade_state: "SUCCESS" } },
      codec: jsonCodec,
    });
    const h = wire.headers;
    expect(h["wechatpay-serial"]).toBe(platformSerial);
    const message = Formatter.response(
      h["wechatpay-timestamp"] ?? "",
      h["wechatpay-nonce"] ?? "",
      wire.body,
    );
    expect(Rsa.verify(message, h["wechatpay-signature"] ?? "", partner.publicKey)).toBe(true);
    const resource = (
      JSON.parse(wire.body) as {
        resource: { ciphertext: string; nonce: string; associated_data: string };
      }
    ).resource;
    expect(
      JSON.parse(
        Aes.AesGcm.decrypt(resource.ciphertext, apiV3Key, resource.nonce, resource.associated_data),
      ),
    ).toEqual({
      out_trade_no: "T1",
      trade_state: "SUCCESS",
    });
  });

  it("WeChat Pay v2 MD5/HMAC signatures equal the SDK's Hash.sign", async () => {
    const data = {
      appid: "wxd930ea5d5a258f4f",
      mch_id: "10000100",
      body: "中文 test",
      nonce_str: "abc",
      total_fee: "1",
    };
    for (const [algorithm, type] of [
      ["md5", "MD5"],
      ["hmac-sha256", "HMAC-SHA256"],
    ] as const) {
      const handler = await handlerFor({
        keys: { secret: { ref: "inline:192006250b4c09247ec02edce69f6a2d" } },
        request: {
          signature: {
            algorithm,
            appendKey: "&key=",
            canonical: { kind: "sortedFields" },
            placement: { in: "body", name: "sign" },
          },
        },
      });
      const wire = await handler.sealRequest({
        method: "POST",
        path: "/",
        headers: {},
        query: {},
        body: data,
        codec: jsonCodec,
      });
      expect((JSON.parse(wire.body) as { sign: string }).sign).toBe(
        Hash.sign(type, data, "192006250b4c09247ec02edce69f6a2d"),
      );
    }
  });
});
