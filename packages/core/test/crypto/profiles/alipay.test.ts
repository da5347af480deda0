import { createSign } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { AlipaySdk } from "alipay-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CryptoHandler } from "../../../src/crypto/handler.ts";
import { formCodec } from "../../../src/message/codecs/form-codec.ts";
import { jsonCodec } from "../../../src/message/codecs/json-codec.ts";
import {
  documentedProfile,
  optionsOf,
  profileHandlers,
} from "../../support/crypto/documented-profiles.ts";
import { OpensslCa } from "../../support/crypto/openssl-ca.ts";
import { partner, platform } from "../../support/crypto/test-keys.ts";

const appId = "2021000000000001";

/**
 * A gateway on loopback that plays Alipay with the mirrored handler: it reads the parameters from
 * the URL and the form body alike (the SDK puts the system parameters in the URL), opens them as
 * one request, and answers `{"<method>_response": …}` sealed by the handler.
 */
async function startGateway(gateway: CryptoHandler, answer: (method: string) => unknown) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://gateway.test");
    const params = new URLSearchParams(url.search);
    for (const [name, value] of new URLSearchParams(await readBody(req)))
      params.append(name, value);
    try {
      const opened = await gateway.openRequest(
        { method: "POST", path: url.pathname, headers: {}, query: {}, body: params.toString() },
        formCodec,
      );
      const method = String((opened.body as { method: string }).method);
      const sealed = await gateway.sealResponse(
        {
          status: 200,
          headers: {},
          body: { [`${method.replaceAll(".", "_")}_response`]: answer(method) },
          codec: jsonCodec,
        },
        opened,
      );
      res.writeHead(sealed.status, sealed.headers).end(sealed.body);
    } catch (error) {
      res.writeHead(400).end(JSON.stringify({ refused: (error as { code?: string }).code }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/gateway.do`, close: () => server.close() };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => resolve(text));
  });
}

const tradeQueryAnswer = {
  code: "10000",
  msg: "Success",
  out_trade_no: "T20260115001",
  trade_status: "TRADE_SUCCESS",
  buyer_user_name: "张三",
  qr_code: "https://qr.alipay.com/bax08431",
};

describe("Alipay OpenAPI 2.0 public-key mode, as documented, against alipay-sdk", () => {
  const profile = documentedProfile("alipay-key");
  const files = {
    "keys/app-private-key.pem": platform.privatePem,
    "keys/alipay-public-key.pem": partner.publicPem,
    "keys/alipay/alipay-private-key.pem": partner.privatePem,
    "keys/alipay/app-public-key.pem": platform.publicPem,
  };
  const partnerKeys = {
    signing: { ref: "file:keys/alipay/alipay-private-key.pem" },
    verifying: { ref: "file:keys/alipay/app-public-key.pem" },
  };
  let handlers: Awaited<ReturnType<typeof profileHandlers>>;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let sdk: AlipaySdk;
  beforeAll(async () => {
    handlers = await profileHandlers(profile, { files }, partnerKeys);
    gateway = await startGateway(handlers.partner, () => tradeQueryAnswer);
    sdk = new AlipaySdk({
      appId,
      privateKey: platform.privatePem,
      keyType: "PKCS8",
      alipayPublicKey: partner.publicPem,
      gateway: gateway.url,
    });
  });
  afterAll(() => gateway.close());

  it("the SDK's signed requests open, and the answers signed over their member pass the SDK's check", async () => {
    const result = await sdk.exec(
      "alipay.trade.query",
      { bizContent: { outTradeNo: "T20260115001" } },
      { validateSign: true },
    );
    expect(result).toMatchObject({ code: "10000", tradeStatus: "TRADE_SUCCESS" });
  });

  it("the SDK verifies the requests the platform signs", async () => {
    const wire = await handlers.platform.sealRequest({
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
    expect(params).toMatchObject({ app_id: appId, sign_type: "RSA2", format: "JSON" });
    const gatewaySdk = new AlipaySdk({
      appId,
      privateKey: partner.privatePem,
      keyType: "PKCS8",
      alipayPublicKey: platform.publicPem,
    });
    expect(gatewaySdk.checkNotifySignV2(params)).toBe(true);
    expect(gatewaySdk.checkNotifySignV2({ ...params, method: "alipay.trade.refund" })).toBe(false);
  });

  describe("answers signed over the member's exact text: the handler agrees with checkResponseSign", () => {
    const key = "alipay_trade_query_response";
    const signOver = (text: string) =>
      createSign("RSA-SHA256").update(text, "utf8").sign(partner.privateKey, "base64");
    const member = (raw: string) => {
      const start = raw.indexOf("{", raw.indexOf(`"${key}"`));
      const end = raw.lastIndexOf("}", raw.lastIndexOf('"sign"'));
      return raw.slice(start, end + 1);
    };
    const answers = {
      compact: `{"${key}":{"code":"10000","msg":"Success","out_trade_no":"T1"},"sign":"SIG"}`,
      "escaped and spaced": `{ "${key}" : { "code" : "10000", "msg":"Success", "qr_code":"https:\\/\\/qr.alipay.com\\/bax0", "buyer_user_name":"\\u5f20\\u4e09" },  "sign" : "SIG" }`,
      "keys out of order, cert mode": `{"${key}":{"trade_status":"TRADE_SUCCESS","code":"10000","msg":"Success"},"alipay_cert_sn":"abc","sign":"SIG"}`,
    };
    const sent = { method: "POST" as const, path: "/gateway.do", headers: {}, query: {}, body: "" };
    const sdkAccepts = (raw: string, sign: string) => {
      try {
        sdk.checkResponseSign(raw, key, sign, "trace");
        return true;
      } catch {
        return false;
      }
    };
    const handlerAccepts = (raw: string) =>
      handlers.platform.openResponse({ status: 200, headers: {}, body: raw }, sent, jsonCodec).then(
        () => true,
        (error: { code?: string }) => {
          expect(error.code).toBe("CRYPTO_VERIFY_FAILED");
          return false;
        },
      );

    it.each(Object.entries(answers))("%s: both accept the genuine answer", async (_, template) => {
      const sign = signOver(member(template));
      const raw = template.replace("SIG", sign);
      expect(sdkAccepts(raw, sign)).toBe(true);
      expect(await handlerAccepts(raw)).toBe(true);
    });

    it("both refuse an escape rewritten, and a signature over the re-serialised member", async () => {
      const template = answers["escaped and spaced"];
      const sign = signOver(member(template));
      const rewritten = template.replace("SIG", sign).replaceAll("\\/", "/");
      expect(sdkAccepts(rewritten, sign)).toBe(false);
      expect(await handlerAccepts(rewritten)).toBe(false);
      const reserialised = signOver(JSON.stringify(JSON.parse(member(template))));
      const raw = template.replace("SIG", reserialised);
      expect(sdkAccepts(raw, reserialised)).toBe(false);
      expect(await handlerAccepts(raw)).toBe(false);
    });

    it("the handler refuses an answer with the member twice (a parser would show the last)", async () => {
      const first = `{"code":"10000","msg":"Success","trade_status":"WAIT_BUYER_PAY"}`;
      const raw = `{"${key}":${first},"${key}":{"code":"10000","trade_status":"TRADE_SUCCESS"},"sign":"${signOver(first)}"}`;
      expect(await handlerAccepts(raw)).toBe(false);
    });

    it("error_response answers are signed over their member the same way", async () => {
      const error = `{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}`;
      const raw = `{"error_response":${error},"sign":"${signOver(error)}"}`;
      const opened = await handlers.platform.openResponse(
        { status: 200, headers: {}, body: raw },
        sent,
        jsonCodec,
      );
      expect(opened.body).toMatchObject({ error_response: { sub_code: "ACQ.TRADE_NOT_EXIST" } });
    });
  });

  it("notifications the gateway signs pass the SDK's checkNotifySignV2 and open on the platform", async () => {
    const notice = await handlers.partner.sealRequest({
      method: "POST",
      path: "/callbacks/alipay",
      headers: {},
      query: {},
      body: {
        notify_id: "ac05099524730693a8b330c5ecf72da9786",
        notify_type: "trade_status_sync",
        out_trade_no: "T20260115001",
        trade_status: "TRADE_SUCCESS",
        subject: "还款 repayment",
        charset: "utf-8",
        sign_type: "RSA2",
      },
      codec: formCodec,
    });
    const params = formCodec.decode(notice.body) as Record<string, string>;
    expect(sdk.checkNotifySignV2(params)).toBe(true);
    const opened = await handlers.platform.openRequest(notice, formCodec);
    expect(opened.body).toMatchObject({ trade_status: "TRADE_SUCCESS" });
    const forged = notice.body.replace("TRADE_SUCCESS", "TRADE_CLOSED");
    expect(sdk.checkNotifySignV2(formCodec.decode(forged) as Record<string, string>)).toBe(false);
    await expect(
      handlers.platform.openRequest({ ...notice, body: forged }, formCodec),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });
});

describe("Alipay OpenAPI 2.0 certificate mode, as documented, against alipay-sdk", () => {
  const profile = documentedProfile("alipay-cert");
  const ca = new OpensslCa(
    "rsa",
    "/C=CN/O=Ant Financial/OU=Certification Authority/CN=Ant Financial Certification Authority R1",
  );
  const appCert = ca.issue({ subject: `/C=CN/O=Capflow Test/OU=Alipay/CN=${appId}` });
  const alipayCert = ca.issue({ subject: "/C=CN/O=Ant Financial/OU=Alipay/CN=Alipay Test" });
  const files = {
    "keys/app-private-key.pem": appCert.keyPem,
    [`keys/appCertPublicKey_${appId}.crt`]: appCert.certPem,
    "keys/alipayCertPublicKey_RSA2.crt": alipayCert.certPem,
    "keys/alipay/alipay-private-key.pem": alipayCert.keyPem,
  };
  const partnerKeys = {
    signing: {
      ref: "file:keys/alipay/alipay-private-key.pem",
      certificate: "file:keys/alipayCertPublicKey_RSA2.crt",
      idFormat: "alipayCertSn" as const,
    },
    verifying: {
      ref: `file:keys/appCertPublicKey_${appId}.crt`,
      idFormat: "alipayCertSn" as const,
    },
  };
  const sdkConfig = {
    appId,
    privateKey: appCert.keyPem,
    keyType: "PKCS8" as const,
    appCertContent: appCert.certPem,
    alipayPublicCertContent: alipayCert.certPem,
    alipayRootCertContent: ca.root.certPem,
  };
  let handlers: Awaited<ReturnType<typeof profileHandlers>>;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    handlers = await profileHandlers(profile, { files }, partnerKeys);
    gateway = await startGateway(handlers.partner, () => tradeQueryAnswer);
  });
  afterAll(() => gateway.close());

  it("the SDK's requests open with the key their app_cert_sn names, and the SDK verifies the answers", async () => {
    const sdk = new AlipaySdk({ ...sdkConfig, gateway: gateway.url });
    const result = await sdk.exec(
      "alipay.trade.query",
      { bizContent: { outTradeNo: "T20260115001" } },
      { validateSign: true },
    );
    expect(result).toMatchObject({ code: "10000", tradeStatus: "TRADE_SUCCESS" });
  });

  it("the platform's requests carry the app_cert_sn the SDK computes, and the SDK verifies them", async () => {
    const sdk = new AlipaySdk(sdkConfig);
    const wire = await handlers.platform.sealRequest({
      method: "POST",
      path: "/gateway.do",
      headers: {},
      query: {},
      body: { method: "alipay.trade.query", biz_content: '{"out_trade_no":"T1"}' },
      codec: formCodec,
    });
    const params = formCodec.decode(wire.body) as Record<string, string>;
    expect(params.app_cert_sn).toBe(sdk.config.appCertSn);
    expect(params.alipay_root_cert_sn).toBe(
      optionsOf(profile).request?.fields?.alipay_root_cert_sn,
    );
    const gatewaySdk = new AlipaySdk({
      appId,
      privateKey: alipayCert.keyPem,
      keyType: "PKCS8",
      alipayPublicCertContent: appCert.certPem,
      alipayRootCertContent: ca.root.certPem,
      appCertContent: alipayCert.certPem,
    });
    expect(gatewaySdk.checkNotifySignV2(params)).toBe(true);
  });

  it("answers carry the alipay_cert_sn the SDK computes; one naming another certificate is refused", async () => {
    const sdk = new AlipaySdk({ ...sdkConfig, gateway: gateway.url });
    const sent = { method: "POST" as const, path: "/gateway.do", headers: {}, query: {}, body: "" };
    const answer = await handlers.partner.sealResponse(
      {
        status: 200,
        headers: {},
        body: { alipay_trade_query_response: tradeQueryAnswer },
        codec: jsonCodec,
      },
      { headers: {}, query: {}, body: {}, text: "" },
    );
    const parsed = JSON.parse(answer.body) as Record<string, unknown>;
    expect(parsed.alipay_cert_sn).toBe(sdk.config.alipayCertSn);
    const renamed = answer.body.replace(
      String(parsed.alipay_cert_sn),
      "0123456789abcdef0123456789abcdef",
    );
    await expect(
      handlers.platform.openResponse({ status: 200, headers: {}, body: renamed }, sent, jsonCodec),
    ).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
      message: expect.stringContaining("unknown key id 0123456789abcdef0123456789abcdef"),
    });
    await expect(
      handlers.platform.openResponse(
        { status: 200, headers: {}, body: answer.body },
        sent,
        jsonCodec,
      ),
    ).resolves.toMatchObject({ body: { alipay_trade_query_response: { code: "10000" } } });
  });
});
