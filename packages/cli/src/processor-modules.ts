import { pathToFileURL } from "node:url";
import { CapflowError, type ProcessorRegistry } from "@capflow/core";

/**
 * Loads modules that register processors: each exports `registerProcessors(registry)` or a
 * default function taking the registry.
 */
export async function loadProcessorModules(
  paths: readonly string[],
  registry: ProcessorRegistry,
): Promise<void> {
  for (const path of paths) {
    const module = (await import(pathToFileURL(path).href)) as {
      registerProcessors?: unknown;
      default?: unknown;
    };
    const register = module.registerProcessors ?? module.default;
    if (typeof register !== "function") {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${path} must export registerProcessors(registry) or a default function taking the registry`,
      );
    }
    await (register as (registry: ProcessorRegistry) => unknown)(registry);
  }
}
