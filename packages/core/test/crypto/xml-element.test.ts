import { createSign } from "node:crypto";
import iconv from "iconv-lite";
import { describe, expect, it } from "vitest";
import { xmlElementText } from "../../src/crypto/xml-element.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { handlerFor } from "../support/crypto/handlers.ts";
import { inline, partner, platform } from "../support/crypto/test-keys.ts";

describe("xmlElementText: one element's exact text", () => {
  const doc = `<?xml version="1.0" encoding="GBK"?>\r\n<message><head><id>1</id></head><body  a='x' >\r\n  <name>张三 &amp; 李四</name><note><![CDATA[<b>]]></note><e/>\n</body><signature>c2ln</signature></message>`;

  it("keeps attributes, spacing, line ends, entities and CDATA as written", () => {
    expect(xmlElementText(doc, "body")).toBe(
      `<body  a='x' >\r\n  <name>张三 &amp; 李四</name><note><![CDATA[<b>]]></note><e/>\n</body>`,
    );
    expect(xmlElementText(doc, "e")).toBe("<e/>");
    expect(xmlElementText("<a><b>😀</b><c/></a>", "b")).toBe("<b>😀</b>");
  });

  it("refuses two elements of the name, nested ones included, and documents that are not well-formed", () => {
    expect(xmlElementText(doc.replace("<e/>", "<body/>"), "body")).toBeUndefined();
    expect(xmlElementText("<a><x/><x/></a>", "x")).toBeUndefined();
    expect(xmlElementText("<a><body>x</a>", "body")).toBeUndefined();
    expect(xmlElementText("<a><body>x</body></a><b/>", "body")).toBeUndefined();
    expect(xmlElementText("<a/>", "body")).toBeUndefined();
  });

  it("refuses a DTD, whose entities could make the text read otherwise", () => {
    expect(
      xmlElementText('<!DOCTYPE a [<!ENTITY x "y">]><a><body>&x;</body></a>', "body"),
    ).toBeUndefined();
  });
});

describe("a bank that signs the GBK bytes of <body> (SHA256withRSA, signature in <signature>)", () => {
  const xml = codecFor("xml", { xml: { root: "message" }, charset: "gbk" });
  const options = {
    keys: {
      signing: { ref: inline(platform.privatePem) },
      verifying: [{ ref: inline(partner.publicPem) }],
    },
    callback: {
      signature: {
        algorithm: "rsa-sha256" as const,
        canonical: { kind: "xmlElement" as const, element: "body" },
        placement: { in: "body" as const, name: "signature" },
      },
    },
  };
  /** The bank's side, without capflow: sign the element's bytes as they are on the wire. */
  const bankMessage = (body: string, signedBody = body) => {
    const signature = createSign("sha256")
      .update(iconv.encode(signedBody, "gbk"))
      .sign(partner.privateKey, "base64");
    const text = `<?xml version="1.0" encoding="GBK"?>\n<message><head><txCode>2001</txCode></head>${body}<signature>${signature}</signature></message>`;
    // What the listener hands the handler: the bytes decoded in the declared charset.
    return iconv.decode(iconv.encode(text, "gbk"), "gbk");
  };

  it("verifies a notification with Chinese text and spacing the codec would not reproduce", async () => {
    const handler = await handlerFor(options);
    const body = "<body>\n  <orderNo>L1</orderNo>\n  <result>放款失败：账户冻结</result>\n</body>";
    const opened = await handler.openRequest(
      {
        method: "POST",
        path: "/",
        headers: {},
        query: {},
        body: bankMessage(body),
        charset: "gbk",
      },
      xml,
    );
    expect(opened.body).toMatchObject({ body: { orderNo: "L1", result: "放款失败：账户冻结" } });
  });

  it("refuses a changed element, and a second <body> slipped in beside the signed one", async () => {
    const handler = await handlerFor(options);
    const body = "<body><orderNo>L1</orderNo><result>成功</result></body>";
    const tampered = bankMessage(body, body).replace("成功", "失败");
    await expect(
      handler.openRequest(
        { method: "POST", path: "/", headers: {}, query: {}, body: tampered, charset: "gbk" },
        xml,
      ),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
    const wrapped = bankMessage(body).replace("<head>", "<head><body><orderNo>L2</orderNo></body>");
    await expect(
      handler.openRequest(
        { method: "POST", path: "/", headers: {}, query: {}, body: wrapped, charset: "gbk" },
        xml,
      ),
    ).rejects.toMatchObject({ code: "CRYPTO_VERIFY_FAILED" });
  });

  it("is checked when the channel is validated", async () => {
    await expect(
      handlerFor({
        ...options,
        callback: {
          signature: { ...options.callback.signature, canonical: { kind: "xmlElement" } },
        },
      } as never),
    ).rejects.toMatchObject({ code: "CRYPTO_CONFIG_INVALID" });
  });
});
