import { describe, expect, it } from "vitest";
import { isCapflowError } from "../../src/errors.ts";
import { processor } from "../../src/message/processor-decorator.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { ProcessorContext } from "../../src/message/processor-types.ts";
import { renderMessage } from "../../src/message/render-message.ts";
import { scopeOf } from "./fixtures.ts";

class BankProcessors {
  readonly prefix = "B";

  @processor({
    label: "银行代码",
    description: "Bank code of a card number",
    params: [{ name: "cardNo", type: "string" }],
    returns: "string",
  })
  bankCode(_ctx: ProcessorContext, cardNo: string): string {
    // `this` is the instance: registerAll binds the method.
    return `${this.prefix}${cardNo.slice(0, 4)}`;
  }

  @processor({
    name: "greeting",
    label: "问候",
    params: [{ name: "who", type: "string", optional: true }],
  })
  async greet(ctx: ProcessorContext, who?: string): Promise<string> {
    return `hello ${who ?? ctx.channel.code}`;
  }

  notAProcessor(): string {
    return "x";
  }
}

class MoreBankProcessors extends BankProcessors {
  @processor({ label: "分行", params: [] })
  branch(): string {
    return "001";
  }
}

describe("ProcessorRegistry", () => {
  it("registers decorated methods, bound to their instance", async () => {
    const registry = new ProcessorRegistry();
    expect(registry.registerAll(new BankProcessors(), { module: "./bank.ts" })).toEqual([
      "bankCode",
      "greeting",
    ]);
    expect(registry.hasProcessor("bankCode")).toBe(true);
    expect(registry.hasProcessor("greet")).toBe(false);
    expect(registry.hasProcessor("notAProcessor")).toBe(false);
    const rendered = await renderMessage(
      { format: "json", body: { bank: "{{bankCode input.card}}", hi: "{{greeting}}" } },
      scopeOf({ input: { card: "622202" } }),
      { registry },
    );
    expect(rendered.body).toEqual({ bank: "B6222", hi: "hello acme" });
  });

  it("includes decorated methods of superclasses", () => {
    const registry = new ProcessorRegistry();
    registry.registerAll(new MoreBankProcessors());
    expect(registry.names()).toEqual(["bankCode", "branch", "greeting"]);
    expect(registry.get("branch")?.metadata.source).toEqual({
      class: "MoreBankProcessors",
      function: "branch",
    });
  });

  it("registers plain functions without decorators", async () => {
    const registry = new ProcessorRegistry().register(
      { name: "double", label: "翻倍", params: [{ name: "n", type: "number" }], returns: "number" },
      (_ctx, n: number) => n * 2,
    );
    const rendered = await renderMessage(
      { format: "json", body: { v: "{{double 21}}" } },
      scopeOf(),
      {
        registry,
      },
    );
    expect(rendered.body).toEqual({ v: 42 });
  });

  it("exports metadata as JSON, Chinese labels included", () => {
    const registry = new ProcessorRegistry();
    registry.registerAll(new BankProcessors(), { module: "./bank.ts" });
    const exported = JSON.parse(JSON.stringify(registry)) as unknown;
    expect(exported).toEqual([
      {
        name: "bankCode",
        label: "银行代码",
        description: "Bank code of a card number",
        params: [{ name: "cardNo", type: "string" }],
        returns: { type: "string" },
        source: { module: "./bank.ts", class: "BankProcessors", function: "bankCode" },
      },
      {
        name: "greeting",
        label: "问候",
        params: [{ name: "who", type: "string", optional: true }],
        returns: { type: "any" },
        source: { module: "./bank.ts", class: "BankProcessors", function: "greet" },
      },
    ]);
  });

  it("refuses duplicates unless replacing", () => {
    const registry = new ProcessorRegistry();
    const declaration = { name: "x", label: "x", params: [] };
    registry.register(declaration, () => 1);
    expect(() => registry.register(declaration, () => 2)).toThrow(
      expect.objectContaining({ code: "PROCESSOR_DUPLICATE" }),
    );
    registry.register(declaration, () => 2, { replace: true });
    expect(registry.list()).toHaveLength(1);
  });

  it("refuses names templates cannot call and malformed parameter lists", () => {
    const registry = new ProcessorRegistry();
    for (const name of ["if", "each", "a.b", "1x", "__x", ""]) {
      let error: unknown;
      try {
        registry.register({ name, label: name, params: [] }, () => 1);
      } catch (caught) {
        error = caught;
      }
      expect(isCapflowError(error, "CONFIG_INVALID"), name).toBe(true);
    }
    expect(() =>
      registry.register(
        {
          name: "bad",
          label: "bad",
          params: [
            { name: "a", type: "string", optional: true },
            { name: "b", type: "string" },
          ],
        },
        () => 1,
      ),
    ).toThrow(/follows an optional/);
  });

  it("rejects @processor on static methods", () => {
    expect(() => {
      class Static {
        readonly id = 1;
        @processor({ label: "s", params: [] })
        static s(): number {
          return 1;
        }
      }
      return Static;
    }).toThrow(TypeError);
  });
});
