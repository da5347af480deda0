import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  CapflowError,
  type CryptoHandlerRegistry,
  createCryptoHandlerRegistry,
  ProcessorRegistry,
  registerBuiltinProcessors,
} from "@capflow/core";

/** The `--processors` and `--crypto-handlers` options every command that reads definitions takes. */
export interface ExtensionOptions {
  processors?: string[];
  cryptoHandlers?: string[];
}

export interface Extensions {
  processors: ProcessorRegistry;
  cryptoHandlers: CryptoHandlerRegistry;
}

export const processorsOptionHelp =
  "modules registering processors: export `registerProcessors(registry)`, a default function, or a ProcessorRegistry as `registry` or default";
export const cryptoHandlersOptionHelp =
  "modules registering crypto handlers: export `registerCryptoHandlers(registry)` or a default function";

/**
 * The built-in processors and crypto handlers plus those of the user's modules (paths relative to
 * `cwd`). A processor module exports `registerProcessors(registry)` or a default function taking
 * the registry, or a complete `ProcessorRegistry` (as `registry` or default, built-in processors
 * included if its templates use them), used instead of the built-in one. A crypto handler module
 * exports `registerCryptoHandlers(registry)` or a default function.
 */
export async function loadExtensions(options: ExtensionOptions, cwd: string): Promise<Extensions> {
  let processors: ProcessorRegistry | undefined;
  const registerProcessors: ((registry: ProcessorRegistry) => unknown)[] = [];
  for (const path of options.processors ?? []) {
    const module = await importModule(path, cwd);
    const exported = module.registerProcessors ?? module.registry ?? module.default;
    if (exported instanceof ProcessorRegistry) {
      processors = exported;
    } else if (typeof exported === "function") {
      registerProcessors.push(exported as (registry: ProcessorRegistry) => unknown);
    } else {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${path} must export registerProcessors(registry), a default function taking the registry, or a ProcessorRegistry`,
      );
    }
  }
  processors ??= registerBuiltinProcessors(new ProcessorRegistry());
  for (const register of registerProcessors) await register(processors);

  const cryptoHandlers = createCryptoHandlerRegistry();
  for (const path of options.cryptoHandlers ?? []) {
    const module = await importModule(path, cwd);
    const register = module.registerCryptoHandlers ?? module.default;
    if (typeof register !== "function") {
      throw new CapflowError(
        "CONFIG_INVALID",
        `${path} must export registerCryptoHandlers(registry) or a default function taking the registry`,
      );
    }
    await (register as (registry: CryptoHandlerRegistry) => unknown)(cryptoHandlers);
  }
  return { processors, cryptoHandlers };
}

/**
 * Imports a user's module. TypeScript (`.ts`, `.mts`, `.cts`) loads through tsx's loader when
 * Node cannot load it by itself, so `capflow validate --processors my-processors.ts` works in
 * a project that installed the CLI, without a build step; TC39 decorators included.
 */
async function importModule(given: string, cwd: string): Promise<Record<string, unknown>> {
  const path = resolve(cwd, given);
  const url = pathToFileURL(path).href;
  try {
    try {
      return (await import(url)) as Record<string, unknown>;
    } catch (error) {
      if (
        !isTypeScript(path) ||
        (error as { code?: string }).code !== "ERR_UNKNOWN_FILE_EXTENSION"
      ) {
        throw error;
      }
      const { tsImport } = await import("tsx/esm/api");
      return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    }
  } catch (error) {
    throw new CapflowError(
      "CONFIG_INVALID",
      `cannot load ${isAbsolute(given) ? given : `${given} (${path}: a relative path is taken from the current folder, ${cwd})`}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

function isTypeScript(path: string): boolean {
  return /\.[mc]?ts$/.test(path);
}
