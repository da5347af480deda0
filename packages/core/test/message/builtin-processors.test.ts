import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isCapflowError } from "../../src/errors.ts";
import { toCents, toYuan } from "../../src/message/builtin-processors/amount-processors.ts";
import { formatDate } from "../../src/message/builtin-processors/date-processors.ts";
import { builtinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { renderMessage } from "../../src/message/render-message.ts";
import type { RenderScope } from "../../src/message/render-session.ts";
import { builtinRegistry, fixedClock, scopeOf } from "./fixtures.ts";

async function render(body: Record<string, string>, scope: RenderScope = scopeOf()) {
  const rendered = await renderMessage({ format: "json", body }, scope, {
    registry: builtinRegistry(),
    clock: fixedClock,
  });
  return rendered.body as Record<string, unknown>;
}

describe("built-in processors", () => {
  it("all have Chinese labels and declared parameters", () => {
    const names = builtinProcessors.map((p) => p.declaration.name).sort();
    expect(names).toEqual(
      [
        "formatDate",
        "json",
        "lookup",
        "mask",
        "md5",
        "nonce",
        "now",
        "padEnd",
        "padStart",
        "serialNo",
        "sha256",
        "sm3",
        "substring",
        "toCents",
        "toYuan",
        "uuid",
      ].sort(),
    );
    for (const { declaration } of builtinProcessors) {
      expect(declaration.label, declaration.name).toMatch(/[\u4e00-\u9fff]|UUID/);
    }
  });

  it("toCents: exact, with rounding modes, refusing non-numbers", async () => {
    expect(toCents("1234.56")).toBe(123456);
    expect(toCents(0.1 + 0.2)).toBe(30);
    expect(toCents("0.005")).toBe(1);
    expect(toCents("0.005", "HALF_EVEN")).toBe(0);
    expect(toCents("0.019", "DOWN")).toBe(1);
    expect(toCents(-1.005)).toBe(-101);
    expect(() => toCents("12a")).toThrow(TypeError);
    expect(() => toCents("")).toThrow(TypeError);
    expect(() => toCents(null)).toThrow(TypeError);
    expect(() => toCents("1", "ROUND")).toThrow(TypeError);
    expect(
      await render({ a: "{{toCents input.amount}}", b: "{{toCents '1.235' 'DOWN'}}" }),
    ).toEqual({
      a: 123456,
      b: 123,
    });
  });

  it("toYuan: two decimals", () => {
    expect(toYuan(123456)).toBe("1234.56");
    expect(toYuan("5")).toBe("0.05");
    expect(toYuan(-1)).toBe("-0.01");
    expect(() => toYuan("x")).toThrow(TypeError);
  });

  it("formatDate: channel time zone by default, patterns and inputs", async () => {
    const at = fixedClock.now(); // 2026-11-21T14:00:00Z
    expect(formatDate(at, "yyyyMMddHHmmss", "Asia/Shanghai")).toBe("20261121220000");
    expect(formatDate(at, "yyyy-MM-dd", "UTC")).toBe("2026-11-21");
    expect(formatDate(at, "ISO", "Asia/Shanghai")).toBe("2026-11-21T22:00:00.000+08:00");
    expect(formatDate("20261121220000", "epochMillis", "Asia/Shanghai")).toBe(at);
    expect(formatDate("2026-11-21T14:00:00Z", "yyyyMMdd HH", "Asia/Shanghai")).toBe("20261121 22");
    expect(formatDate("20261121", "yyyy/MM/dd", "Asia/Shanghai")).toBe("2026/11/21");
    expect(() => formatDate("yesterday", "ISO", "UTC")).toThrow(TypeError);
    expect(
      await render({
        local: '{{formatDate (now) "yyyyMMddHHmmss"}}',
        utc: '{{formatDate (now) "HH:mm" "UTC"}}',
        now: "{{now}}",
      }),
    ).toEqual({ local: "20261121220000", utc: "14:00", now: at });
  });

  it("serialNo: taken from the attempt, else derived and stable for (instance, step, attempt)", async () => {
    const withSerial = scopeOf({
      attempt: { instanceId: "i1", number: 1, serial: "202601020000000000000001" },
    });
    expect(await render({ s: '{{serialNo "AC"}}' }, withSerial)).toEqual({
      s: "AC202601020000000000000001",
    });
    expect(await render({ s: "{{serialNo}}" }, withSerial)).toEqual({
      s: "202601020000000000000001",
    });

    const startedAt = Date.UTC(2026, 0, 1, 20, 0, 0); // 2026-01-02 04:00 in Shanghai
    const attempt = (instanceId: string, number: number) =>
      scopeOf({ attempt: { instanceId, number, startedAt } });
    const first = (await render({ s: '{{serialNo "AC"}}' }, attempt("i1", 1))).s as string;
    expect(first).toMatch(/^AC20260102\d{16}$/);
    expect((await render({ s: '{{serialNo "AC"}}' }, attempt("i1", 1))).s).toBe(first);
    expect((await render({ s: '{{serialNo "AC"}}' }, attempt("i1", 2))).s).not.toBe(first);
    expect((await render({ s: '{{serialNo "AC"}}' }, attempt("i2", 1))).s).not.toBe(first);
    const otherStep = scopeOf({
      step: "query",
      attempt: { instanceId: "i1", number: 1, startedAt },
    });
    expect((await render({ s: '{{serialNo "AC"}}' }, otherStep)).s).not.toBe(first);
    // Without a start time the render's clock gives the date.
    expect((await render({ s: "{{serialNo}}" })).s).toMatch(/^20261121\d{16}$/);
  });

  it("uuid and nonce: one value per distinct call within a render", async () => {
    const body = await render({
      a: "{{uuid}}",
      b: "{{uuid}}",
      c: "{{uuid 'second'}}",
      n: "{{nonce 24}}",
      m: "{{nonce}}",
    });
    expect(body.a).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.b).toBe(body.a);
    expect(body.c).not.toBe(body.a);
    expect(body.n).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(body.m).toMatch(/^[A-Za-z0-9]{16}$/);
  });

  it("md5, sha256, sm3: lower-case hex of UTF-8 text", async () => {
    const body = await render({
      md5: "{{md5 'abc'}}",
      sha: "{{sha256 input.name}}",
      sm3: "{{sm3 'abc'}}",
    });
    expect(body).toEqual({
      md5: "900150983cd24fb0d6963f7d28e17f72",
      sha: createHash("sha256").update("张三", "utf8").digest("hex"),
      sm3: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
    });
  });

  it("mask, lookup, padStart, padEnd, substring, json", async () => {
    const scope = scopeOf({
      input: { idNo: "110101199003071234", no: 7, loan: { amount: "12.30" }, name: "欧阳娜娜" },
      context: { contacts: [{ phone: "13812345678" }] },
    });
    expect(
      await render(
        {
          masked: "{{mask input.idNo 'idCard'}}",
          phone: "{{mask (lookup 'context.contacts.0.phone') 'phone'}}",
          amount: "{{toCents (lookup 'input.loan.amount')}}",
          fallback: "{{lookup 'context.nothing' 'n/a'}}",
          padded: "{{padStart input.no 4 '0'}}",
          right: "[{{padEnd 'ab' 4}}]",
          sub: "{{substring input.name 0 2}}",
          json: "{{json input.loan}}",
        },
        scope,
      ),
    ).toEqual({
      masked: "110***********1234",
      phone: "138****5678",
      amount: 1230,
      fallback: "n/a",
      padded: "0007",
      right: "[ab  ]",
      sub: "欧阳",
      json: '{"amount":"12.30"}',
    });
  });

  it("a failing built-in is PROCESSOR_FAILED", async () => {
    await expect(render({ a: "{{formatDate 'soon' 'ISO'}}" })).rejects.toSatisfy((error: unknown) =>
      isCapflowError(error, "PROCESSOR_FAILED"),
    );
  });
});
