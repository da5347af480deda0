import type { ProcessorRegistry } from "@capflow/core";

/** A processor module as `capflow validate --processors` loads it. */
export function registerProcessors(registry: ProcessorRegistry): void {
  registry.register(
    { name: "concat", label: "拼接", params: [] },
    (_context, ...parts: unknown[]) => parts.join(""),
  );
}
