import type { CryptoDefinition } from "../definition/types.ts";
import { CapflowError, type ErrorContext } from "../errors.ts";
import type { Clock } from "../ports/clock.ts";
import type { SecretResolver } from "../ports/secret-resolver.ts";
import { configurableCryptoHandler } from "./configurable/configurable-handler.ts";
import type { CryptoHandler } from "./handler.ts";
import { plainCryptoHandler } from "./plain-handler.ts";

/** A problem in a handler's options; `pointer` is relative to the `options` object. */
export interface CryptoOptionProblem {
  pointer: string;
  message: string;
}

/** What a handler may use while it is created: secrets, the channel file's folder, time. */
export interface CryptoHandlerDeps {
  secrets: SecretResolver;
  /** Folder relative `file:` references resolve against (the channel definition's folder). */
  baseDir?: string;
  /** Time for timestamps and replay windows. Default: the system clock. */
  clock?: Pick<Clock, "now">;
  /** Channel code, for error context. */
  channel?: string;
  /**
   * Run private-key operations (RSA signing, RSA-OAEP unwrapping) on libuv's thread pool (true,
   * the default) or on the event loop (false). See `EngineOptions.cryptoThreadPool`.
   */
  cryptoThreadPool?: boolean;
}

/**
 * Builds handlers of one kind from a channel's `crypto.options`. A factory validates first (so
 * `capflow validate` reports option problems without touching keys) and loads keys once in
 * `create`, which is the only place secrets are resolved.
 */
export interface CryptoHandlerFactory<Options = Record<string, unknown>> {
  readonly name: string;
  validateOptions(options: unknown): CryptoOptionProblem[];
  create(options: Options, deps: CryptoHandlerDeps): Promise<CryptoHandler>;
}

/** The part of the registry the definition validator needs. */
export interface CryptoHandlerCatalog {
  hasHandler(name: string): boolean;
  validateOptions?(name: string, options: unknown): CryptoOptionProblem[];
}

/**
 * Crypto handlers by name, as channel definitions reference them (`"handler": "configurable"`).
 * A partner with an exotic scheme registers its own factory; nothing central changes.
 */
export class CryptoHandlerRegistry implements CryptoHandlerCatalog {
  readonly #factories = new Map<string, CryptoHandlerFactory<never>>();

  register<Options>(name: string, factory: CryptoHandlerFactory<Options>): this {
    if (this.#factories.has(name)) {
      throw new CapflowError(
        "CRYPTO_CONFIG_INVALID",
        `crypto handler "${name}" is already registered; register each handler name once`,
        { context: { handler: name } },
      );
    }
    this.#factories.set(name, factory as CryptoHandlerFactory<never>);
    return this;
  }

  hasHandler(name: string): boolean {
    return this.#factories.has(name);
  }

  names(): string[] {
    return [...this.#factories.keys()].sort();
  }

  validateOptions(name: string, options: unknown): CryptoOptionProblem[] {
    const factory = this.#factories.get(name);
    if (factory === undefined) return [{ pointer: "", message: this.#unknown(name) }];
    return factory.validateOptions(options ?? {});
  }

  /** Validates the options and creates the handler; throws `CRYPTO_CONFIG_INVALID` listing every problem. */
  async create(definition: CryptoDefinition, deps: CryptoHandlerDeps): Promise<CryptoHandler> {
    const context: ErrorContext = deps.channel === undefined ? {} : { channel: deps.channel };
    const factory = this.#factories.get(definition.handler);
    if (factory === undefined) {
      throw new CapflowError("CRYPTO_HANDLER_NOT_FOUND", this.#unknown(definition.handler), {
        context: { ...context, pointer: "/crypto/handler" },
      });
    }
    const options = definition.options ?? {};
    const problems = factory.validateOptions(options);
    const first = problems[0];
    if (first !== undefined) {
      const list = problems.map((p) => `/crypto/options${p.pointer}: ${p.message}`).join("; ");
      throw new CapflowError("CRYPTO_CONFIG_INVALID", `crypto options are invalid: ${list}`, {
        context: { ...context, pointer: `/crypto/options${first.pointer}`, problems },
      });
    }
    return factory.create(options as never, deps);
  }

  #unknown(name: string): string {
    return `no crypto handler named "${name}"; registered: ${this.names().join(", ") || "none"}. Register it with registry.register("${name}", factory)`;
  }
}

/** A registry with the built-in `plain` and `configurable` handlers. */
export function createCryptoHandlerRegistry(): CryptoHandlerRegistry {
  return new CryptoHandlerRegistry()
    .register("plain", plainCryptoHandler)
    .register("configurable", configurableCryptoHandler);
}
