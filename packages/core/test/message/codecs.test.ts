import { Decimal } from "decimal.js";
import { describe, expect, it } from "vitest";
import type { XmlOptions } from "../../src/definition/types.ts";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import { decodeBytes, encodeText } from "../../src/message/charset.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { formCodec } from "../../src/message/codecs/form-codec.ts";
import { jsonCodec } from "../../src/message/codecs/json-codec.ts";
import { textCodec } from "../../src/message/codecs/text-codec.ts";
import { xmlCodec } from "../../src/message/codecs/xml-codec.ts";

const hostile = `a"b'c<d>e&f\\g\n]]>h&amp;{"x":1}</Root><Root>=&+%20`;

function thrown(fn: () => unknown): CapflowError {
  try {
    fn();
  } catch (error) {
    if (isCapflowError(error)) return error;
    throw error;
  }
  throw new Error("expected an error");
}

describe("json codec", () => {
  it("round-trips, keeping numbers, booleans and strings apart", () => {
    const body = {
      amount: 100,
      rate: 0.5,
      ok: true,
      code: "0000",
      none: null,
      list: [1, "1"],
      s: hostile,
    };
    const text = jsonCodec.encode(body);
    expect(JSON.parse(text)).toEqual(body);
    expect(jsonCodec.decode(text)).toEqual(body);
  });

  it("encodes Decimal and bigint without loss", () => {
    expect(jsonCodec.encode({ d: new Decimal("12345678901234567890.01"), b: 2n ** 70n })).toBe(
      '{"d":"12345678901234567890.01","b":"1180591620717411303424"}',
    );
  });

  it("decodes numbers a double cannot hold as their exact digits", () => {
    const text =
      '{"loanNo":12345678901234567890,"ids":[9007199254740993,-9223372036854775808],' +
      '"safe":1234567890123456,"amount":100.5,"code":0,"idNo":"110101199003071234","big":1.0e400}';
    expect(jsonCodec.decode(text)).toEqual({
      loanNo: "12345678901234567890",
      ids: ["9007199254740993", "-9223372036854775808"],
      safe: 1234567890123456,
      amount: 100.5,
      code: 0,
      idNo: "110101199003071234",
      big: "1.0e400",
    });
    // Without a long number the native parser answers, with its rules (last duplicate wins).
    expect(jsonCodec.decode('{"a":1,"a":2,"n":123456789012345}')).toEqual({
      a: 2,
      n: 123456789012345,
    });
    expect(jsonCodec.decode('{"a":1,"a":12345678901234567890}')).toEqual({
      a: "12345678901234567890",
    });
    // A decimal with more digits than a double keeps, alone in its body, is kept exactly too.
    expect(jsonCodec.decode('{"rate": 0.12345678901234567, "fee": 12.5}')).toEqual({
      rate: "0.12345678901234567",
      fee: 12.5,
    });
    expect(jsonCodec.decode("[-1234567.89012345678]")).toEqual(["-1234567.89012345678"]);
  });

  it("reports malformed input with long numbers without echoing it either", () => {
    const error = thrown(() => jsonCodec.decode('{"loanNo":12345678901234567890,"name":"张三"'));
    expect(error.code).toBe("CODEC_DECODE_FAILED");
    expect(error.message).not.toContain("张三");
  });

  it("reports malformed input without echoing it", () => {
    const error = thrown(() => jsonCodec.decode('{"idNo":"110101199003071234","name":"张三"'));
    expect(error.code).toBe("CODEC_DECODE_FAILED");
    expect(error.message).not.toContain("110101199003071234");
    expect(error.message).not.toContain("张三");
  });
});

describe("xml codec", () => {
  const xml: XmlOptions = { root: "Request", attributes: { version: "1.0" }, cdata: ["note"] };

  it("round-trips, keeping numeric-looking text as strings", () => {
    const body = {
      head: { code: "0000", seq: "007" },
      card: "6222020000000000123",
      amount: "100.50",
      items: { item: [{ id: "1" }, { id: "2" }] },
      note: "<b>bold</b> & ]]> done",
    };
    const text = xmlCodec.encode(body, { xml });
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?><Request version="1.0">')).toBe(
      true,
    );
    expect(text).toContain("<![CDATA[");
    expect(xmlCodec.decode(text, { xml })).toEqual({ "@version": "1.0", ...body });
  });

  it("escapes hostile text and attribute values", () => {
    const text = xmlCodec.encode(
      { "@attr": hostile, value: hostile },
      { xml: { root: "Root", declaration: false } },
    );
    expect(text).not.toContain("</Root><Root>");
    expect(text.match(/<Root/g)).toHaveLength(1);
    expect(xmlCodec.decode(text)).toEqual({ "@attr": hostile, value: hostile });
  });

  it("writes numbers and booleans as text, and refuses unusable element names", () => {
    expect(
      xmlCodec.encode({ n: 5, b: true, z: null }, { xml: { root: "R", declaration: false } }),
    ).toBe("<R><n>5</n><b>true</b><z></z></R>");
    expect(thrown(() => xmlCodec.encode({ "a b": 1 }, { xml: { root: "R" } })).code).toBe(
      "CODEC_ENCODE_FAILED",
    );
    expect(thrown(() => xmlCodec.encode({ a: 1 }, {})).code).toBe("CODEC_ENCODE_FAILED");
  });

  it("refuses malformed documents, DOCTYPEs and a wrong root", () => {
    expect(thrown(() => xmlCodec.decode("<a><b></a>")).code).toBe("CODEC_DECODE_FAILED");
    const bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>';
    expect(thrown(() => xmlCodec.decode(bomb)).code).toBe("CODEC_DECODE_FAILED");
    expect(thrown(() => xmlCodec.decode("<Other/>", { xml })).code).toBe("CODEC_DECODE_FAILED");
    expect(thrown(() => xmlCodec.decode("<html>error</html>", { xml })).message).toContain("html");
  });

  it("binds format options through codecFor", () => {
    const codec = codecFor("xml", { xml: { root: "Req", declaration: false } });
    expect(codec.encode({ a: "1" })).toBe("<Req><a>1</a></Req>");
    expect(codec.decode("<Req><a>1</a></Req>")).toEqual({ a: "1" });
  });
});

describe("form codec", () => {
  it("round-trips flat fields and sends nested values as JSON", () => {
    const text = formCodec.encode({ a: "1", amount: 100, hostile, nested: { x: [1] }, none: null });
    expect(text).not.toContain("&f");
    expect(formCodec.decode(text)).toEqual({ a: "1", amount: "100", hostile, nested: '{"x":[1]}' });
  });

  it("decodes repeated fields as arrays and refuses non-form bodies", () => {
    expect(formCodec.decode("a=1&a=2&b=%E4%B8%AD")).toEqual({ a: ["1", "2"], b: "中" });
    expect(thrown(() => formCodec.decode('{"a":1}')).code).toBe("CODEC_DECODE_FAILED");
    expect(thrown(() => formCodec.encode(["x"])).code).toBe("CODEC_ENCODE_FAILED");
  });
});

describe("text codec and codecFor", () => {
  it("passes text through", () => {
    expect(textCodec.encode(hostile)).toBe(hostile);
    expect(textCodec.decode(hostile)).toBe(hostile);
    expect(thrown(() => textCodec.encode({ a: 1 })).code).toBe("CODEC_ENCODE_FAILED");
  });

  it("looks codecs up by format", () => {
    expect(codecFor("json")).toBe(jsonCodec);
    expect(codecFor("form").contentType).toBe("application/x-www-form-urlencoded; charset=utf-8");
    expect(thrown(() => codecFor("yaml" as "json")).code).toBe("CONFIG_INVALID");
  });
});

describe("xml element names", () => {
  it("accepts names in any script and namespaced names", () => {
    const xml = { root: "ns:请求", declaration: false };
    const text = xmlCodec.encode({ 金额: "1", "ns:code": "0000", xmlVersion: "2" }, { xml });
    expect(text).toBe(
      "<ns:请求><金额>1</金额><ns:code>0000</ns:code><xmlVersion>2</xmlVersion></ns:请求>",
    );
    expect(xmlCodec.decode(text)).toEqual({ 金额: "1", "ns:code": "0000", xmlVersion: "2" });
  });
});

describe("no body and empty bodies", () => {
  const xml: XmlOptions = { root: "xml" };
  it.each([jsonCodec, xmlCodec, formCodec, textCodec])(
    "$format: no body encodes as empty text, an empty body decodes as an empty message",
    (codec) => {
      const options = codec === xmlCodec ? { xml } : undefined;
      expect(codec.encode(undefined, options)).toBe("");
      expect(codec.encode(null, options)).toBe("");
      const empty = codec === textCodec ? "" : {};
      expect(codec.decode("", options)).toEqual(empty);
      expect(codec.decode(codec === textCodec ? "" : " \r\n", options)).toEqual(empty);
    },
  );
  it("an empty object is still a message: {} and <xml></xml>", () => {
    expect(jsonCodec.encode({})).toBe("{}");
    expect(xmlCodec.encode({}, { xml })).toContain("<xml></xml>");
  });
});

describe("charsets: GBK and GB18030 round trips of every codec", () => {
  const chinese = { name: "张三", memo: "还款 <第1期> & 利息", amount: "1250.00" };
  const cases = [
    { codec: jsonCodec, value: chinese },
    { codec: xmlCodec, value: chinese },
    { codec: formCodec, value: chinese },
    { codec: textCodec, value: "还款成功：张三 1250.00 元" },
  ];
  it.each(["GBK", "GB18030"])(
    "%s: text encoded once to bytes and back is the same message",
    (charset) => {
      for (const { codec, value } of cases) {
        const options = { charset, ...(codec === xmlCodec ? { xml: { root: "request" } } : {}) };
        const bytes = encodeText(codec.encode(value, options), charset);
        expect(bytes.includes(Buffer.from("张", "utf8"))).toBe(false);
        expect(codec.decode(decodeBytes(bytes, charset), options)).toEqual(value);
      }
    },
  );

  it("GB18030 carries what GBK cannot; GBK refuses it with a typed error, never a ?", () => {
    const rare = "𠀀 (U+20000)";
    expect(decodeBytes(encodeText(rare, "gb18030"), "gb18030")).toBe(rare);
    expect(thrown(() => encodeText(rare, "gbk")).code).toBe("CHARSET_ENCODE_FAILED");
  });

  it("a form body percent-encodes the charset's bytes: 中 is %D6%D0 in GBK", () => {
    expect(formCodec.encode({ a: "中 文" }, { charset: "GBK" })).toBe("a=%D6%D0+%CE%C4");
    expect(formCodec.encode({ a: "中 文" })).toBe("a=%E4%B8%AD+%E6%96%87");
    expect(formCodec.decode("a=%D6%D0+%CE%C4", { charset: "GBK" })).toEqual({ a: "中 文" });
    expect(thrown(() => formCodec.decode("a=%D6", { charset: "GBK" })).code).toBe(
      "CHARSET_DECODE_FAILED",
    );
  });

  it("the XML declaration names the charset; trimming is the author's choice", () => {
    expect(xmlCodec.encode({ a: "1" }, { xml: { root: "r" }, charset: "gbk" })).toMatch(
      /^<\?xml version="1.0" encoding="GBK"\?><r>/,
    );
    const spaced = "<r><a>  1 </a></r>";
    expect(xmlCodec.decode(spaced, { xml: { root: "r" } })).toEqual({ a: "1" });
    expect(xmlCodec.decode(spaced, { xml: { root: "r", trim: false } })).toEqual({ a: "  1 " });
  });

  it("bytes not valid in the charset are a typed error, never garbled text", () => {
    expect(thrown(() => decodeBytes(Buffer.from([0xd6, 0x20]), "gbk")).code).toBe(
      "CHARSET_DECODE_FAILED",
    );
    expect(thrown(() => decodeBytes(Buffer.from([0xff, 0xfe]), "utf-8")).code).toBe(
      "CHARSET_DECODE_FAILED",
    );
    // UTF-8 Chinese would read as valid but wrong GBK (涓枃): refused.
    expect(thrown(() => decodeBytes(Buffer.from("中文", "utf8"), "gbk")).code).toBe(
      "CHARSET_DECODE_FAILED",
    );
  });
});
