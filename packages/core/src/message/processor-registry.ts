import { CapflowError } from "../errors.ts";
import { declaredProcessorsOf } from "./processor-decorator.ts";
import type {
  ProcessorDeclaration,
  ProcessorFunction,
  ProcessorMetadata,
  ProcessorReturn,
  ProcessorSource,
} from "./processor-types.ts";

/** A processor ready to call: its metadata and its implementation, bound if it was a method. */
export interface RegisteredProcessor {
  readonly metadata: ProcessorMetadata;
  readonly fn: ProcessorFunction;
  /** Fewest arguments a call may pass (parameters before the first optional or rest one). */
  readonly minArity: number;
  /** Most arguments a call may pass (`Infinity` with a rest parameter). */
  readonly maxArity: number;
}

export interface RegisterOptions {
  /** Replace a processor already registered under the same name instead of failing. */
  replace?: boolean;
  /** Recorded in the metadata's `source`. */
  source?: ProcessorSource;
}

const processorNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Handlebars' own block helpers and our internal helpers: processors cannot take these names. */
const reservedNames = new Set([
  "if",
  "unless",
  "each",
  "with",
  "log",
  "blockHelperMissing",
  "helperMissing",
  "this",
  "true",
  "false",
  "null",
  "undefined",
]);

/**
 * Processors by name. Register plain functions with {@link ProcessorRegistry.register}, or
 * objects whose methods carry `@processor(...)` with {@link ProcessorRegistry.registerAll}.
 * Satisfies the definition validator's `{ hasProcessor(name) }`.
 */
export class ProcessorRegistry {
  readonly #processors = new Map<string, RegisteredProcessor>();
  #version = 0;

  /** Incremented on every change; render caches derived from the registry compare it. */
  get version(): number {
    return this.#version;
  }

  register(
    declaration: ProcessorDeclaration,
    fn: ProcessorFunction,
    options: RegisterOptions = {},
  ): this {
    const { name } = declaration;
    if (!processorNamePattern.test(name) || reservedNames.has(name) || name.startsWith("__")) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `Processor name "${name}" is not usable in templates: use letters, digits and "_", not starting with a digit or "__", and not a Handlebars keyword.`,
        { context: { processor: name } },
      );
    }
    if (typeof fn !== "function") {
      throw new CapflowError("CONFIG_INVALID", `Processor "${name}" is not a function.`, {
        context: { processor: name },
      });
    }
    if (this.#processors.has(name) && options.replace !== true) {
      throw new CapflowError(
        "PROCESSOR_DUPLICATE",
        `Processor "${name}" is already registered; pick another name or register with { replace: true }.`,
        { context: { processor: name } },
      );
    }
    const metadata = toMetadata(declaration, options.source ?? {});
    this.#processors.set(name, { metadata, fn, ...arityOf(metadata) });
    this.#version++;
    return this;
  }

  /**
   * Registers every `@processor` method of `instance` (its class and superclasses), bound to it.
   * Returns the names registered.
   */
  registerAll(instance: object, options: { module?: string; replace?: boolean } = {}): string[] {
    const names: string[] = [];
    for (const { declaration, method, methodName } of declaredProcessorsOf(instance)) {
      const source: ProcessorSource = { class: instance.constructor.name, function: methodName };
      if (options.module !== undefined) source.module = options.module;
      const bound = method.bind(instance) as ProcessorFunction;
      this.register(declaration, bound, {
        source,
        ...(options.replace === undefined ? {} : { replace: options.replace }),
      });
      names.push(declaration.name);
    }
    return names;
  }

  hasProcessor(name: string): boolean {
    return this.#processors.has(name);
  }

  get(name: string): RegisteredProcessor | undefined {
    return this.#processors.get(name);
  }

  names(): string[] {
    return [...this.#processors.keys()].sort();
  }

  /** Metadata of every processor, sorted by name: what the store persists and tools list. */
  list(): ProcessorMetadata[] {
    return this.names().map((name) => this.#processors.get(name)!.metadata);
  }

  toJSON(): ProcessorMetadata[] {
    return this.list();
  }
}

function toMetadata(declaration: ProcessorDeclaration, source: ProcessorSource): ProcessorMetadata {
  const returns: ProcessorReturn =
    declaration.returns === undefined
      ? { type: "any" }
      : typeof declaration.returns === "string"
        ? { type: declaration.returns }
        : { ...declaration.returns };
  const metadata: ProcessorMetadata = {
    name: declaration.name,
    label: declaration.label,
    params: declaration.params.map((param) => ({ ...param })),
    returns,
    source: { ...source },
  };
  if (declaration.description !== undefined) metadata.description = declaration.description;
  return structuredClone(metadata);
}

function arityOf(metadata: ProcessorMetadata): { minArity: number; maxArity: number } {
  const { params, name } = metadata;
  let minArity = 0;
  let seenOptional = false;
  for (const [index, param] of params.entries()) {
    if (param.rest === true && index !== params.length - 1) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `Processor "${name}": only the last parameter may be a rest parameter ("${param.name}" is not last).`,
        { context: { processor: name } },
      );
    }
    if (param.optional === true || param.rest === true) {
      seenOptional = true;
    } else if (seenOptional) {
      throw new CapflowError(
        "CONFIG_INVALID",
        `Processor "${name}": required parameter "${param.name}" follows an optional one.`,
        { context: { processor: name } },
      );
    } else {
      minArity++;
    }
  }
  const maxArity = params.at(-1)?.rest === true ? Number.POSITIVE_INFINITY : params.length;
  return { minArity, maxArity };
}
