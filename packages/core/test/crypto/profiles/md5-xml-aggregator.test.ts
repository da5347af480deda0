import { beforeAll, describe, expect, it } from "vitest";
import wechatpay from "wechatpay-axios-plugin";
import type { CryptoHandler } from "../../../src/crypto/handler.ts";
import { codecFor } from "../../../src/message/codecs/codec-for.ts";
import { jsonCodec } from "../../../src/message/codecs/json-codec.ts";
import { documentedProfile, profileHandlers } from "../../support/crypto/documented-profiles.ts";
import { handlerFor } from "../../support/crypto/handlers.ts";

/** WeChat Pay v2's signing rule, which MD5/XML aggregators share: the oracle. */
const { Hash } = wechatpay as unknown as {
  Hash: { sign(type: string, data: Record<string, string>, key: string): string };
};

const key = "192006250b4c09247ec02edce69f6a2d";
const xml = codecFor("xml", {
  xml: { root: "xml", cdata: ["body", "attach", "sign", "mch_id", "out_trade_no", "status"] },
});
const fieldsOf = (text: string) => xml.decode(text) as Record<string, string>;
const withoutSign = ({ sign: _, ...fields }: Record<string, string>) => fields;

describe("an MD5/XML aggregator, as documented, against WeChat Pay v2's Hash.sign", () => {
  const profile = documentedProfile("md5-xml-aggregator");
  let platform: CryptoHandler;
  let aggregator: CryptoHandler;
  beforeAll(async () => {
    ({ platform, partner: aggregator } = await profileHandlers(
      profile,
      { files: {}, env: { AGGREGATOR_MD5_KEY: key } },
      {},
    ));
  });

  it("requests are <xml> documents signed as the oracle signs them, and the aggregator opens them", async () => {
    const wire = await platform.sealRequest({
      method: "POST",
      path: "/pay/gateway",
      headers: {},
      query: {},
      body: {
        service: "pay.weixin.native",
        mch_id: "7551000001",
        out_trade_no: "T20260115001",
        body: "还款 <repayment> & fee",
        total_fee: "100",
        mch_create_ip: "127.0.0.1",
        notify_url: "https://platform.example/callbacks/aggregator",
        attach: "",
      },
      codec: xml,
    });
    expect(wire.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><xml>/);
    expect(wire.headers["content-type"]).toMatch(/^application\/xml/);
    const fields = fieldsOf(wire.body);
    expect(fields).toMatchObject({ version: "2.0", charset: "UTF-8", sign_type: "MD5" });
    expect(fields.nonce_str).toMatch(/^[0-9A-Za-z]{32}$/);
    expect(fields.sign).toBe(Hash.sign("MD5", withoutSign(fields), key));
    const opened = await aggregator.openRequest(wire, xml);
    expect(opened.body).toMatchObject({ body: "还款 <repayment> & fee" });
  });

  it("answers and notifications the oracle signs open on the platform; altered ones do not", async () => {
    const notification = {
      version: "2.0",
      charset: "UTF-8",
      sign_type: "MD5",
      status: "0",
      result_code: "0",
      mch_id: "7551000001",
      out_trade_no: "T20260115001",
      transaction_id: "7551000001202601150000000001",
      pay_result: "0",
      total_fee: "100",
      attach: "分期 3/12",
      nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    };
    const signed = { ...notification, sign: Hash.sign("MD5", notification, key) };
    const text = xml.encode(signed);
    const received = {
      method: "POST" as const,
      path: "/callbacks/aggregator",
      headers: {},
      query: {},
    };
    const opened = await platform.openRequest({ ...received, body: text }, xml);
    expect(opened.body).toMatchObject({ pay_result: "0", attach: "分期 3/12" });
    const sent = {
      method: "POST" as const,
      path: "/pay/gateway",
      headers: {},
      query: {},
      body: "",
    };
    await expect(
      platform.openResponse({ status: 200, headers: {}, body: text }, sent, xml),
    ).resolves.toMatchObject({ body: { status: "0" } });
    const altered = text.replace("<total_fee>100</total_fee>", "<total_fee>1</total_fee>");
    expect(altered).not.toBe(text);
    await expect(platform.openRequest({ ...received, body: altered }, xml)).rejects.toMatchObject({
      code: "CRYPTO_VERIFY_FAILED",
    });
  });

  it("notifications the aggregator seals carry the oracle's signature; the acknowledgement is plain", async () => {
    const notice = await aggregator.sealRequest({
      method: "POST",
      path: "/callbacks/aggregator",
      headers: {},
      query: {},
      body: { status: "0", result_code: "0", out_trade_no: "T20260115001", pay_result: "0" },
      codec: xml,
    });
    const fields = fieldsOf(notice.body);
    expect(fields.sign).toBe(Hash.sign("MD5", withoutSign(fields), key));
    const opened = await platform.openRequest(notice, xml);
    const text = codecFor("text");
    const ack = await platform.sealResponse(
      { status: 200, headers: {}, body: "success", codec: text },
      opened,
    );
    expect(ack.body).toBe("success");
    expect(await aggregator.openResponse(ack, notice, text)).toMatchObject({ body: "success" });
  });

  it("the same rule with HMAC-SHA256, as WeChat Pay v2 signs, equals Hash.sign too", async () => {
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
        keys: { secret: { ref: `inline:${key}` } },
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
      expect((JSON.parse(wire.body) as { sign: string }).sign).toBe(Hash.sign(type, data, key));
    }
  });
});
