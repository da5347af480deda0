import { describe, expect, it } from "vitest";
import {
  maskBankCard,
  maskEmail,
  maskFields,
  maskFull,
  maskIdCard,
  maskName,
  maskPhone,
} from "../../src/message/mask.ts";

describe("masking", () => {
  it("masks each style", () => {
    expect(maskIdCard("110101199003071234")).toBe("110***********1234");
    expect(maskPhone("13812345678")).toBe("138****5678");
    expect(maskBankCard("6222021234567890123")).toBe("6222***********0123");
    expect(maskName("张三")).toBe("张*");
    expect(maskName("欧阳娜娜")).toBe("欧***");
    expect(maskEmail("zhangsan@example.com")).toBe("z*******@example.com");
    expect(maskFull("anything")).toBe("****");
    expect(maskPhone("1234")).toBe("***4");
  });

  it("masks fields by name at any depth without modifying the input", () => {
    const value = {
      name: "张三",
      borrower: { idNo: "110101199003071234", phone: 13812345678 },
      contacts: [{ name: "李四", phone: "13900001111" }],
      secret: { nested: true },
      amount: 100,
    };
    const rules = {
      fields: { name: "name", idNo: "idCard", phone: "phone", secret: "full" },
    } as const;
    expect(maskFields(value, rules)).toEqual({
      name: "张*",
      borrower: { idNo: "110***********1234", phone: "138****5678" },
      contacts: [{ name: "李*", phone: "139****1111" }],
      secret: "****",
      amount: 100,
    });
    expect(value.name).toBe("张三");
    expect(maskFields(value, undefined)).toBe(value);
  });

  it("matches names whatever their case, as headers arrive lower-cased", () => {
    const rules = { fields: { "X-Id-No": "idCard", idNo: "idCard" } } as const;
    expect(
      maskFields({ "x-id-no": "110101199003071234", IDNO: "110101199003071234" }, rules),
    ).toEqual({ "x-id-no": "110***********1234", IDNO: "110***********1234" });
  });

  it("masks inside JSON text held in a string; leaves other strings byte for byte", () => {
    const rules = { fields: { idNo: "idCard", name: "name" } } as const;
    const bizContent = JSON.stringify({ idNo: "110101199003071234", name: "张三", amount: 1 });
    expect(maskFields({ bizContent }, rules)).toEqual({
      bizContent: '{"idNo":"110***********1234","name":"张*","amount":1}',
    });
    // However long: a statement's worth of JSON in one field is still masked.
    const long = JSON.stringify({
      rows: Array.from({ length: 4_000 }, (_, i) => ({ line: i, memo: "x".repeat(20) })),
      IdNo: "110101199003071234",
    });
    expect(long.length).toBeGreaterThan(65_536);
    const masked = maskFields({ data: long }, rules) as { data: string };
    expect(JSON.parse(masked.data).IdNo).toBe("110***********1234");
    expect(masked.data).not.toContain("110101199003071234");
    // JSON in a string inside the long text: its keys are written \"IdNo\".
    const nested = JSON.stringify({
      rows: Array.from({ length: 4_000 }, (_, i) => ({ line: i, memo: "x".repeat(20) })),
      bizContent: JSON.stringify({ IdNo: "110101199003071234" }),
    });
    expect(nested.length).toBeGreaterThan(65_536);
    const maskedNested = maskFields({ data: nested }, rules) as { data: string };
    expect(maskedNested.data).not.toContain("110101199003071234");
    expect(JSON.parse(JSON.parse(maskedNested.data).bizContent).IdNo).toBe("110***********1234");
    const plain = JSON.stringify({ rows: Array.from({ length: 4_000 }, (_, i) => ({ line: i })) });
    expect((maskFields({ data: plain }, rules) as { data: string }).data).toBe(plain);
    const untouched = '{ "amount": 1 }';
    expect(maskFields({ data: untouched, note: "{not json" }, rules)).toEqual({
      data: untouched,
      note: "{not json",
    });
  });
});
