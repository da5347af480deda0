import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import wechatpay from "wechatpay-axios-plugin";
import type { CryptoHandler } from "../../../src/crypto/handler.ts";
import { jsonCodec } from "../../../src/message/codecs/json-codec.ts";
import { documentedProfile, profileHandlers } from "../../support/crypto/documented-profiles.ts";
import { TestClock } from "../../support/crypto/handlers.ts";
import { OpensslCa } from "../../support/crypto/openssl-ca.ts";

const { Aes, Formatter, Rsa } = wechatpay as unknown as {
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

describe("WeChat Pay API v3, as documented, against wechatpay-axios-plugin", () => {
  const mchid = "1900000001";
  const apiV3Key = "0123456789abcdefghijklmnopqrstuv";
  const ca = new OpensslCa(
    "rsa",
    "/C=CN/O=Tenpay.com/OU=Tenpay.com CA Center/CN=Tenpay.com Root CA",
  );
  const merchant = ca.issue({ subject: `/C=CN/O=Capflow Test/OU=${mchid}/CN=capflow` });
  const wechatpay = ca.issue({
    subject: "/C=CN/O=Tenpay.com/OU=WeChat Pay/CN=Tenpay.com platform",
  });
  const merchantSerial = new X509Certificate(merchant.certPem).serialNumber.toUpperCase();
  const platformSerial = new X509Certificate(wechatpay.certPem).serialNumber.toUpperCase();
  const profile = documentedProfile("wechatpay-v3");
  const files = {
    "keys/apiclient_key.pem": merchant.keyPem,
    "keys/apiclient_cert.pem": merchant.certPem,
    "keys/wechatpay_platform_cert.pem": wechatpay.certPem,
    "keys/wechatpay/platform_key.pem": wechatpay.keyPem,
  };
  const partnerKeys = {
    signing: {
      ref: "file:keys/wechatpay/platform_key.pem",
      certificate: "file:keys/wechatpay_platform_cert.pem",
    },
    verifying: { ref: "file:keys/apiclient_cert.pem" },
  };
  const clock = new TestClock(Date.now());
  const env = { WECHATPAY_APIV3_KEY: apiV3Key };
  let handler: CryptoHandler;
  let mock: CryptoHandler;
  let later: CryptoHandler;
  beforeAll(async () => {
    ({ platform: handler, partner: mock } = await profileHandlers(
      profile,
      { files, env, clock },
      partnerKeys,
    ));
    const stale = new TestClock(clock.now() + 6 * 60_000);
    ({ platform: later } = await profileHandlers(
      profile,
      { files, env, clock: stale },
      partnerKeys,
    ));
  });

  it("the Authorization header equals the SDK's, byte for byte, and verifies with Rsa.verify", async () => {
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
      Rsa.sign(message, merchant.keyPem),
      ts,
      merchantSerial,
    );
    expect(header).toBe(expected);
    const signature = /signature="([^"]+)"/.exec(header)?.[1] ?? "";
    expect(Rsa.verify(message, signature, merchant.certPem)).toBe(true);
  });

  it("a GET is signed over its query string and an empty body, as the SDK signs it", async () => {
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
    expect(Rsa.verify(message, signature, merchant.certPem)).toBe(true);
    expect(header).toBe(
      Formatter.authorization(mchid, nonce, Rsa.sign(message, merchant.keyPem), ts, merchantSerial),
    );
  });

  it("a 204 the SDK signs over the empty body opens as an empty message; altered, it is refused", async () => {
    const ts = String(Math.floor(clock.now() / 1000));
    const nonce = "C0FFEE";
    const headers = {
      "Wechatpay-Timestamp": ts,
      "Wechatpay-Nonce": nonce,
      "Wechatpay-Serial": platformSerial,
      "Wechatpay-Signature": Rsa.sign(Formatter.response(ts, nonce, ""), wechatpay.keyPem),
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
    const body = JSON.stringify({ prepay_id: "wx201410272009395522657a690389285100" });
    const ts = String(Math.floor(clock.now() / 1000));
    const nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
    const headers = {
      "Wechatpay-Timestamp": ts,
      "Wechatpay-Nonce": nonce,
      "Wechatpay-Serial": platformSerial,
      "Wechatpay-Signature": Rsa.sign(Formatter.response(ts, nonce, body), wechatpay.keyPem),
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
      "wechatpay-signature": Rsa.sign(Formatter.response(ts, "n1", body), wechatpay.keyPem),
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
      "wechatpay-signature": Rsa.sign(Formatter.response(ts, "n1", altered), wechatpay.keyPem),
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
    await expect(later.openRequest(request, jsonCodec)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("a mirrored partner handler makes callbacks the SDK can decrypt and verify", async () => {
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
    expect(Rsa.verify(message, h["wechatpay-signature"] ?? "", wechatpay.certPem)).toBe(true);
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
});
