import type { ProcessorRegistry } from "../processor-registry.ts";
import { amountProcessors } from "./amount-processors.ts";
import type { BuiltinProcessor } from "./builtin-processor.ts";
import { dateProcessors } from "./date-processors.ts";
import { digestProcessors } from "./digest-processors.ts";
import { identifierProcessors } from "./identifier-processors.ts";
import { textProcessors } from "./text-processors.ts";

/** Every processor shipped with capflow. */
export const builtinProcessors: readonly BuiltinProcessor[] = [
  ...amountProcessors,
  ...dateProcessors,
  ...identifierProcessors,
  ...digestProcessors,
  ...textProcessors,
];

/** Registers the built-in processors (source module `@capflow/core`). Returns the registry. */
export function registerBuiltinProcessors(
  registry: ProcessorRegistry,
  options: { replace?: boolean } = {},
): ProcessorRegistry {
  for (const { declaration, fn } of builtinProcessors) {
    registry.register(declaration, fn, {
      source: { module: "@capflow/core", function: declaration.name },
      ...(options.replace === undefined ? {} : { replace: options.replace }),
    });
  }
  return registry;
}
