import { describe, expect, it } from "vitest";
import { registerBuiltinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { codecFor } from "../../src/message/codecs/codec-for.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { ProcessorContext } from "../../src/message/processor-types.ts";
import { renderMessage } from "../../src/message/render-message.ts";

// The code samples of docs/templates.md and docs/processors.md, run as written.
describe("documentation examples", () => {
  it("templates.md: rendering a message", async () => {
    const registry = registerBuiltinProcessors(new ProcessorRegistry());
    const rendered = await renderMessage(
      {
        format: "json",
        headers: { "X-Request-Id": "{{uuid}}" },
        body: {
          reqSerialNo: "{{serialNo 'LBL'}}",
          reqTime: "{{formatDate (now) 'yyyyMMddHHmmss'}}",
          loanAmount: "{{toCents input.amount}}",
          custName: "{{input.customer.name}}",
          remark: "loan {{context.loanNo}} for {{input.customer.name}}",
        },
      },
      {
        input: { amount: "1234.56", customer: { name: "张三" } },
        context: { loanNo: "L001" },
        channel: { code: "lanbank", timeZone: "Asia/Shanghai" },
        behavior: "loan",
        step: "apply",
        attempt: { instanceId: "01JD…", number: 1, startedAt: Date.UTC(2026, 10, 21, 14) },
      },
      {
        registry,
        clock: { now: () => Date.UTC(2026, 10, 21, 14) },
        path: "/loans/{{context.loanNo}}",
      },
    );
    expect(rendered.body).toEqual({
      reqSerialNo: expect.stringMatching(/^LBL20261121\d{16}$/),
      reqTime: "20261121220000",
      loanAmount: 123456,
      custName: "张三",
      remark: "loan L001 for 张三",
    });
    expect(rendered.headers["X-Request-Id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(rendered.query).toEqual({});
    expect(rendered.path).toBe("/loans/L001");
    const text = codecFor("json").encode(rendered.body);
    expect(JSON.parse(text)).toEqual(rendered.body);
  });

  it("processors.md: async processors calling each other", async () => {
    const registry = new ProcessorRegistry()
      .register(
        { name: "slowUpper", label: "慢大写", params: [{ name: "text", type: "string" }] },
        async (_ctx, text: string) => String(text).toUpperCase(),
      )
      .register(
        { name: "wrap", label: "包裹", params: [{ name: "text", type: "string" }] },
        (_ctx, text: string) => `[${text}]`,
      )
      .register(
        { name: "viaCall", label: "调用", params: [{ name: "text", type: "string" }] },
        async (ctx: ProcessorContext, text: string) => {
          const upper = await ctx.call<string>("slowUpper", text);
          return ctx.call<string>("wrap", upper);
        },
      );
    const rendered = await renderMessage(
      { format: "json", body: { v: "{{viaCall 'x'}}" } },
      {
        input: {},
        context: {},
        channel: { code: "c", timeZone: "UTC" },
        step: "s",
        attempt: { instanceId: "i", number: 1 },
      },
      { registry },
    );
    expect(rendered.body).toEqual({ v: "[X]" });
  });
});
