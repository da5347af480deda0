import { setTimeout as sleep } from "node:timers/promises";
import { Decimal } from "decimal.js";
import { describe, expect, it } from "vitest";
import type { MessageTemplate, TemplateValue } from "../../src/definition/types.ts";
import { type CapflowError, isCapflowError } from "../../src/errors.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { ProcessorContext } from "../../src/message/processor-types.ts";
import { renderMessage } from "../../src/message/render-message.ts";
import { builtinRegistry, fixedClock, scopeOf } from "./fixtures.ts";

async function renderError(promise: Promise<unknown>): Promise<CapflowError> {
  try {
    await promise;
  } catch (error) {
    if (isCapflowError(error)) return error;
    throw error;
  }
  throw new Error("expected the render to fail");
}

const json = (body: TemplateValue): MessageTemplate => ({ format: "json", body });

describe("renderMessage: values", () => {
  it("keeps the type of a whole-value mustache and renders other strings as text", async () => {
    const registry = builtinRegistry();
    const rendered = await renderMessage(
      json({
        amount: "{{toCents input.amount}}",
        yuan: "{{toYuan 123456}}",
        text: "loan {{context.loanNo}} of {{input.name}}",
        object: "{{input.borrower}}",
        flag: "{{input.flag}}",
        list: ["{{input.flag}}", 3, null, "x"],
        constant: 7,
        decimal: "{{input.rate}}",
      }),
      scopeOf({
        input: {
          amount: "1234.565",
          name: "张三",
          borrower: { phone: "13800000000", tags: ["a"] },
          flag: false,
          rate: new Decimal("0.000000012345"),
        },
      }),
      { registry },
    );
    expect(rendered.body).toEqual({
      amount: 123457,
      yuan: "1234.56",
      text: "loan L001 of 张三",
      object: { phone: "13800000000", tags: ["a"] },
      flag: false,
      list: [false, 3, null, "x"],
      constant: 7,
      decimal: "0.000000012345",
    });
  });

  it("does not HTML-escape and never lets a value change the structure", async () => {
    const hostile = `</a><b>"&'{{x}}\\u0000\n`;
    const rendered = await renderMessage(
      json({ whole: "{{input.v}}", text: "[{{input.v}}]", triple: "{{{input.v}}}" }),
      scopeOf({ input: { v: hostile } }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.body).toEqual({ whole: hostile, text: `[${hostile}]`, triple: hostile });
  });

  it("renders headers and query as strings, leaving out missing ones", async () => {
    const rendered = await renderMessage(
      {
        format: "json",
        headers: {
          "X-Count": "{{input.count}}",
          "X-Missing": "{{input.nope}}",
          "X-Text": "a-{{input.count}}",
        },
        query: { obj: "{{input.obj}}", page: "1" },
      },
      scopeOf({ input: { count: 3, obj: { a: 1 } } }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.headers).toEqual({ "X-Count": "3", "X-Text": "a-3" });
    expect(rendered.query).toEqual({ obj: '{"a":1}', page: "1" });
    expect(rendered.body).toBeUndefined();
  });

  it("percent-encodes values in the path", async () => {
    const rendered = await renderMessage(
      { format: "json" },
      scopeOf({ context: { no: "a/../b?c" } }),
      {
        registry: new ProcessorRegistry(),
        path: "/loans/{{context.no}}/status",
      },
    );
    expect(rendered.path).toBe("/loans/a%2F..%2Fb%3Fc/status");
  });

  it("a value of '.' or '..' in the path is refused: it would climb to another endpoint", async () => {
    for (const no of ["..", "."]) {
      const error = await renderMessage({ format: "json" }, scopeOf({ context: { no } }), {
        registry: new ProcessorRegistry(),
        path: "/loans/{{context.no}}/cancel",
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "TEMPLATE_RENDER_FAILED" });
      expect((error as Error).message).toContain("would change the endpoint");
    }
  });

  it("leaves out members whose value is missing, by default", async () => {
    const rendered = await renderMessage(
      json({
        present: "{{input.a}}",
        absent: "{{input.b}}",
        text: "[{{input.b}}]",
        nested: { x: "{{input.b.c}}" },
      }),
      scopeOf({ input: { a: null } }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.body).toEqual({ present: null, text: "[]", nested: {} });
  });

  it('fails on missing values with missing: "error"', async () => {
    const registry = new ProcessorRegistry();
    const whole = await renderError(
      renderMessage(json({ absent: "{{input.b}}" }), scopeOf({ input: {} }), {
        registry,
        missing: "error",
      }),
    );
    expect(whole.code).toBe("TEMPLATE_RENDER_FAILED");
    expect(whole.context).toMatchObject({ step: "apply", template: "/body/absent" });
    const text = await renderError(
      renderMessage(json({ t: "x{{input.b}}" }), scopeOf({ input: {} }), {
        registry,
        missing: "error",
      }),
    );
    expect(text.code).toBe("TEMPLATE_RENDER_FAILED");
    expect(text.context.template).toBe("/body/t");
  });

  it("gives processors precedence over data for a bare name, as Handlebars does", async () => {
    const registry = new ProcessorRegistry().register(
      { name: "step", label: "s", params: [] },
      () => "from processor",
    );
    const rendered = await renderMessage(json({ a: "{{step}}", b: "{{behavior}}" }), scopeOf(), {
      registry,
    });
    expect(rendered.body).toEqual({ a: "from processor", b: "loan" });
  });

  it("exposes extra root data, without letting it replace the standard names", async () => {
    const rendered = await renderMessage(
      json({ a: "{{callback.id}}", b: "{{step}}" }),
      scopeOf({ extra: { callback: { id: "N1" }, step: "forged" } }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.body).toEqual({ a: "N1", b: "apply" });
  });

  it("keeps prototype access disabled", async () => {
    const rendered = await renderMessage(
      json({
        a: "{{input.constructor}}",
        b: "{{input.__proto__}}",
        c: "[{{input.constructor.name}}]",
      }),
      scopeOf({ input: {} }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.body).toEqual({ c: "[]" });
  });

  it("maps hash arguments to parameters by name", async () => {
    const rendered = await renderMessage(
      json({ a: '{{padStart input.no length=6 fill="0"}}' }),
      scopeOf({ input: { no: 42 } }),
      { registry: builtinRegistry() },
    );
    expect(rendered.body).toEqual({ a: "000042" });
  });

  it("caches the compiled program across renders", async () => {
    const registry = builtinRegistry();
    const template = json({ a: "{{toCents input.amount}}" });
    const first = await renderMessage(template, scopeOf({ input: { amount: "1" } }), { registry });
    const second = await renderMessage(template, scopeOf({ input: { amount: "2" } }), { registry });
    expect([first.body, second.body]).toEqual([{ a: 100 }, { a: 200 }]);
  });
});

describe("renderMessage: processors", () => {
  function countingRegistry() {
    const calls: string[] = [];
    const registry = new ProcessorRegistry()
      .register(
        { name: "slowUpper", label: "慢大写", params: [{ name: "text", type: "string" }] },
        async (_ctx, text: string) => {
          calls.push(`slowUpper(${text})`);
          await sleep(5);
          return String(text).toUpperCase();
        },
      )
      .register(
        { name: "wrap", label: "包裹", params: [{ name: "text", type: "string" }] },
        (_ctx, text: string) => {
          calls.push(`wrap(${text})`);
          return `[${text}]`;
        },
      )
      .register(
        { name: "viaCall", label: "调用", params: [{ name: "text", type: "string" }] },
        async (ctx: ProcessorContext, text: string) => {
          calls.push(`viaCall(${text})`);
          const upper = await ctx.call<string>("slowUpper", text);
          return ctx.call<string>("wrap", upper);
        },
      );
    return { registry, calls };
  }

  it("resolves async processors and nested calls", async () => {
    const { registry } = countingRegistry();
    const rendered = await renderMessage(
      json({
        async: "{{slowUpper input.a}}",
        nested: "{{wrap (slowUpper (slowUpper input.a))}}",
        inText: "<{{slowUpper input.b}}>",
      }),
      scopeOf({ input: { a: "x", b: "y" } }),
      { registry },
    );
    expect(rendered.body).toEqual({ async: "X", nested: "[X]", inText: "<Y>" });
  });

  it("lets processors call processors through the context", async () => {
    const { registry } = countingRegistry();
    const rendered = await renderMessage(
      json({ v: "{{viaCall input.a}}" }),
      scopeOf({ input: { a: "q" } }),
      {
        registry,
      },
    );
    expect(rendered.body).toEqual({ v: "[Q]" });
  });

  it("runs each distinct call once per render, across body, headers and path", async () => {
    const { registry, calls } = countingRegistry();
    await renderMessage(
      {
        format: "json",
        body: {
          a: "{{slowUpper input.a}}",
          b: "{{slowUpper input.a}}",
          c: "{{wrap (slowUpper input.a)}}",
          d: "{{viaCall input.a}}",
          e: "{{slowUpper input.b}}",
        },
        headers: { h: "{{slowUpper input.a}}" },
      },
      scopeOf({ input: { a: "x", b: "y" } }),
      { registry, path: "/p/{{slowUpper input.a}}" },
    );
    expect(calls.sort()).toEqual(["slowUpper(x)", "slowUpper(y)", "viaCall(x)", "wrap(X)"]);
  });

  it("memoises calls by argument content, not identity", async () => {
    let runs = 0;
    const registry = new ProcessorRegistry().register(
      { name: "count", label: "计数", params: [{ name: "value", type: "any" }] },
      () => ++runs,
    );
    const rendered = await renderMessage(
      json({ a: "{{count input.o1}}", b: "{{count input.o2}}", c: "{{count input.o3}}" }),
      scopeOf({ input: { o1: { x: 1, y: 2 }, o2: { y: 2, x: 1 }, o3: { x: 1 } } }),
      { registry },
    );
    expect(rendered.body).toEqual({ a: 1, b: 1, c: 2 });
  });

  it("runs independent async calls concurrently", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const registry = new ProcessorRegistry().register(
      { name: "fetchRate", label: "查询利率", params: [{ name: "id", type: "string" }] },
      async (_ctx, id: string) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await sleep(20);
        inFlight--;
        return `rate-${id}`;
      },
    );
    const rendered = await renderMessage(
      json({ a: "{{fetchRate 'a'}}", b: "{{fetchRate 'b'}}", c: "{{fetchRate 'c'}}" }),
      scopeOf(),
      { registry },
    );
    expect(rendered.body).toEqual({ a: "rate-a", b: "rate-b", c: "rate-c" });
    expect(maxInFlight).toBe(3);
  });

  it("gives processors the scope, a fixed clock and the signal", async () => {
    const seen: unknown[] = [];
    const controller = new AbortController();
    const registry = new ProcessorRegistry().register(
      { name: "probe", label: "探针", params: [] },
      (ctx) => {
        seen.push({
          channel: ctx.channel,
          step: ctx.step,
          behavior: ctx.behavior,
          attempt: ctx.attempt,
          input: ctx.input,
          context: ctx.context,
          now: ctx.now(),
          signal: ctx.signal === controller.signal,
        });
        return "ok";
      },
    );
    const scope = scopeOf();
    await renderMessage(json({ p: "{{probe}}" }), scope, {
      registry,
      clock: fixedClock,
      signal: controller.signal,
    });
    expect(seen).toEqual([
      {
        channel: scope.channel,
        step: "apply",
        behavior: "loan",
        attempt: scope.attempt,
        input: scope.input,
        context: scope.context,
        now: fixedClock.now(),
        signal: true,
      },
    ]);
  });

  it("stops when the signal is aborted", async () => {
    const controller = new AbortController();
    const registry = new ProcessorRegistry().register(
      { name: "slow", label: "慢", params: [] },
      async () => {
        controller.abort(new Error("shutting down"));
        await sleep(1);
        return 1;
      },
    );
    await expect(
      renderMessage(json({ v: "{{slow}}" }), scopeOf(), { registry, signal: controller.signal }),
    ).rejects.toThrow("shutting down");
  });

  it("bounds the number of render passes", async () => {
    const registry = new ProcessorRegistry().register(
      { name: "inc", label: "加一", params: [{ name: "v", type: "integer" }] },
      async (_ctx, v: number) => v + 1,
    );
    // Three nested async levels: three passes to resolve them, a fourth to render.
    const template = json({ v: "{{inc (inc (inc 1))}}" });
    const error = await renderError(renderMessage(template, scopeOf(), { registry, maxPasses: 3 }));
    expect(error.code).toBe("TEMPLATE_RENDER_FAILED");
    const ok = await renderMessage(template, scopeOf(), { registry, maxPasses: 4 });
    expect(ok.body).toEqual({ v: 4 });
  });
});

describe("renderMessage: errors", () => {
  it("PROCESSOR_NOT_FOUND names template, step and processor", async () => {
    const error = await renderError(
      renderMessage(json({ a: { b: "{{nope input.x}}" } }), scopeOf(), {
        registry: new ProcessorRegistry(),
      }),
    );
    expect(error.code).toBe("PROCESSOR_NOT_FOUND");
    expect(error.context).toMatchObject({
      processor: "nope",
      step: "apply",
      template: "/body/a/b",
      channel: "acme",
    });
    expect(error.message).toContain("nope");
  });

  it("PROCESSOR_NOT_FOUND also in text and through ctx.call", async () => {
    const inText = await renderError(
      renderMessage(json({ t: "x {{nope 1}}" }), scopeOf(), { registry: new ProcessorRegistry() }),
    );
    expect(inText.code).toBe("PROCESSOR_NOT_FOUND");
    const registry = new ProcessorRegistry().register(
      { name: "outer", label: "外层", params: [] },
      (ctx) => ctx.call("missing"),
    );
    const viaCall = await renderError(
      renderMessage(json({ v: "{{outer}}" }), scopeOf(), { registry }),
    );
    expect(viaCall.code).toBe("PROCESSOR_NOT_FOUND");
    expect(viaCall.context.processor).toBe("missing");
  });

  it("PROCESSOR_ARITY for too few, too many and unknown named arguments", async () => {
    const registry = builtinRegistry();
    for (const body of ["{{toCents}}", "{{toCents 1 'HALF_UP' 3}}", "{{padStart 'a' width=3}}"]) {
      const error = await renderError(renderMessage(json({ v: body }), scopeOf(), { registry }));
      expect(error.code, body).toBe("PROCESSOR_ARITY");
      expect(error.context.processor).toMatch(/toCents|padStart/);
    }
  });

  it("PROCESSOR_FAILED wraps sync and async failures with their cause", async () => {
    const registry = builtinRegistry().register(
      { name: "boom", label: "炸", params: [] },
      async () => {
        throw new Error("partner lookup down");
      },
    );
    const sync = await renderError(
      renderMessage(json({ v: "{{toCents input.x}}" }), scopeOf({ input: { x: "abc" } }), {
        registry,
      }),
    );
    expect(sync.code).toBe("PROCESSOR_FAILED");
    expect(sync.context).toMatchObject({
      processor: "toCents",
      template: "/body/v",
      step: "apply",
    });
    const async = await renderError(
      renderMessage(json({ w: "{{boom}}" }), scopeOf(), { registry }),
    );
    expect(async.code).toBe("PROCESSOR_FAILED");
    expect(async.context).toMatchObject({ processor: "boom", template: "/body/w" });
    expect((async.cause as Error).message).toBe("partner lookup down");
  });

  it("TEMPLATE_COMPILE_FAILED on bad syntax", async () => {
    const error = await renderError(
      renderMessage(json({ v: "{{#if x}}" }), scopeOf(), { registry: new ProcessorRegistry() }),
    );
    expect(error.code).toBe("TEMPLATE_COMPILE_FAILED");
    expect(error.context.template).toBe("/body/v");
  });
});

describe("renderMessage: xml", () => {
  it("renders root attributes and returns the options for the codec", async () => {
    const rendered = await renderMessage(
      {
        format: "xml",
        xml: {
          root: "Request",
          attributes: { version: "{{input.v}}", fixed: "1" },
          cdata: ["note"],
        },
        body: { a: "{{input.v}}" },
      },
      scopeOf({ input: { v: 2 } }),
      { registry: new ProcessorRegistry() },
    );
    expect(rendered.xml).toEqual({
      root: "Request",
      attributes: { version: "2", fixed: "1" },
      cdata: ["note"],
    });
    expect(rendered.body).toEqual({ a: 2 });
  });
});
