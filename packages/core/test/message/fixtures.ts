import { registerBuiltinProcessors } from "../../src/message/builtin-processors/register-builtin-processors.ts";
import { ProcessorRegistry } from "../../src/message/processor-registry.ts";
import type { RenderScope } from "../../src/message/render-session.ts";

export function scopeOf(overrides: Partial<RenderScope> = {}): RenderScope {
  return {
    input: { amount: "1234.56", name: "张三", idNo: "110101199003071234" },
    context: { loanNo: "L001" },
    channel: { code: "acme", timeZone: "Asia/Shanghai" },
    behavior: "loan",
    step: "apply",
    attempt: { instanceId: "inst-1", number: 1 },
    ...overrides,
  };
}

export function builtinRegistry(): ProcessorRegistry {
  return registerBuiltinProcessors(new ProcessorRegistry());
}

/** 2026-11-21T14:00:00Z = 22:00 in Shanghai. */
export const fixedClock = { now: () => Date.UTC(2026, 10, 21, 14, 0, 0) };
