import { CapflowError } from "../errors.ts";
import { callKey } from "./call-key.ts";
import type { ProcessorRegistry, RegisteredProcessor } from "./processor-registry.ts";
import type { AttemptInfo, ChannelInfo, ProcessorContext } from "./processor-types.ts";

/** What a message is rendered from: the instance's data and where the render happens. */
export interface RenderScope {
  /** The instance's business input: `{{input.amount}}`. */
  input: Record<string, unknown>;
  /** The instance context (input plus extracted fields): `{{context.loanNo}}`. */
  context: Record<string, unknown>;
  channel: ChannelInfo;
  behavior?: string;
  step: string;
  attempt: AttemptInfo;
  /** The values of the instance's channel account: `{{account.merchantId}}`. */
  account?: Record<string, string>;
  /** The channel's constants: `{{constants.merchantId}}`. */
  constants?: Record<string, string | number | boolean>;
  /**
   * More data at the template root, e.g. `callback` for acknowledgements. The names above
   * (`input`, `context`, `channel`, `behavior`, `step`, `attempt`) cannot be replaced.
   */
  extra?: Record<string, unknown>;
}

export interface RenderOptions {
  registry: ProcessorRegistry;
  /** Source of `now()`; read once per render. Default: the system clock. */
  clock?: { now(): number };
  /** Abandons the render (and is handed to processors). */
  signal?: AbortSignal;
  /**
   * What a mustache whose value is missing renders: `"empty"` (default: an empty string inside
   * text, the key left out for a whole-value mustache) or `"error"` (TEMPLATE_RENDER_FAILED).
   */
  missing?: "empty" | "error";
  /** Bound on render passes for nested async processor calls. Default 8. */
  maxPasses?: number;
}

/**
 * Returned by a helper whose value is still being computed; the pass is then rendered again.
 * An object (not a symbol) so that Handlebars can concatenate it into text: it prints as "".
 */
export const PENDING: { readonly pending: true; toString(): string } = Object.freeze({
  pending: true as const,
  toString: () => "",
});

type MemoEntry =
  | { state: "resolved"; value: unknown }
  | { state: "pending"; promise: Promise<unknown> }
  | { state: "failed"; error: CapflowError };

const neverAborted = new AbortController().signal;

/**
 * One render of one message: the processor memo shared by every template of the message (body,
 * headers, query, path), the processor context, and the bookkeeping of async calls still running.
 * A distinct call (name + arguments) runs once per session, whoever asks for it: a helper in any
 * pass or another processor through `ctx.call`.
 */
export class RenderSession {
  readonly registry: ProcessorRegistry;
  readonly scope: RenderScope;
  readonly data: Record<string, unknown>;
  readonly context: ProcessorContext;
  readonly strict: boolean;
  readonly signal: AbortSignal;
  /** JSON pointer of the template being rendered, for error messages. */
  currentTemplate = "";
  /** Values of the compiled program's slots, filled by a render pass. */
  slots: unknown[] = [];
  /** JSON pointers of the slots. */
  pointers: readonly string[] = [];
  readonly #memo = new Map<string, MemoEntry>();
  #waiting: Promise<unknown>[] = [];

  constructor(scope: RenderScope, options: RenderOptions) {
    this.registry = options.registry;
    this.scope = scope;
    this.strict = options.missing === "error";
    this.signal = options.signal ?? neverAborted;
    const now = (options.clock ?? Date).now();
    this.data = {
      ...scope.extra,
      input: scope.input,
      context: scope.context,
      channel: scope.channel,
      behavior: scope.behavior,
      step: scope.step,
      attempt: scope.attempt,
      account: scope.account ?? {},
      constants: scope.constants ?? {},
    };
    const session = this;
    this.context = {
      input: scope.input,
      context: scope.context,
      channel: scope.channel,
      behavior: scope.behavior,
      step: scope.step,
      attempt: scope.attempt,
      data: this.data,
      signal: this.signal,
      now: () => now,
      call<T>(name: string, ...args: unknown[]): Promise<T> {
        return session.callFromProcessor(name, args) as Promise<T>;
      },
    };
  }

  /** Starts a render pass over a program with these slots. */
  beginPass(pointers: readonly string[]): void {
    this.#waiting = [];
    this.pointers = pointers;
    this.slots = new Array<unknown>(pointers.length);
    this.currentTemplate = pointers[0] ?? "";
  }

  /** Async calls a pass had to leave unresolved; empty when the pass output is final. */
  get waiting(): readonly Promise<unknown>[] {
    return this.#waiting;
  }

  /** Waits for this pass's unresolved calls; throws the first failure among them. */
  async settleWaiting(): Promise<void> {
    const results = await Promise.allSettled(this.#waiting);
    for (const result of results) {
      if (result.status === "rejected") throw result.reason;
    }
    if (this.signal.aborted) throw this.signal.reason;
  }

  /**
   * A processor called as a Handlebars helper: its value now, or {@link PENDING} when it (or one
   * of its arguments) is an async call still running.
   */
  callFromHelper(name: string, args: unknown[]): unknown {
    for (const arg of args) if (arg === PENDING) return PENDING;
    const processor = this.#lookup(name, args);
    const key = callKey(name, args);
    const entry = this.#memo.get(key) ?? this.#run(processor, args, key);
    switch (entry.state) {
      case "resolved":
        return entry.value;
      case "failed":
        throw entry.error;
      case "pending":
        this.#waiting.push(entry.promise);
        return PENDING;
    }
  }

  /** `ctx.call(...)`: always a promise, sharing the memo with helpers. */
  callFromProcessor(name: string, args: unknown[]): Promise<unknown> {
    try {
      const processor = this.#lookup(name, args);
      const key = callKey(name, args);
      const entry = this.#memo.get(key) ?? this.#run(processor, args, key);
      switch (entry.state) {
        case "resolved":
          return Promise.resolve(entry.value);
        case "failed":
          return Promise.reject(entry.error);
        case "pending":
          return entry.promise;
      }
    } catch (error) {
      return Promise.reject(error);
    }
  }

  templateError(message: string, cause?: unknown): CapflowError {
    return new CapflowError("TEMPLATE_RENDER_FAILED", message, {
      context: this.#errorContext(),
      ...(cause === undefined ? {} : { cause }),
    });
  }

  #lookup(name: string, args: unknown[]): RegisteredProcessor {
    const processor = this.registry.get(name);
    if (processor === undefined) {
      throw new CapflowError(
        "PROCESSOR_NOT_FOUND",
        `Template ${this.currentTemplate || "(message)"} of step "${this.scope.step}" calls processor "${name}", which is not registered; register it or fix the name.`,
        { context: this.#errorContext(name) },
      );
    }
    if (args.length < processor.minArity || args.length > processor.maxArity) {
      const expected =
        processor.minArity === processor.maxArity
          ? `${processor.minArity}`
          : processor.maxArity === Number.POSITIVE_INFINITY
            ? `at least ${processor.minArity}`
            : `${processor.minArity} to ${processor.maxArity}`;
      const signature = processor.metadata.params.map((param) => param.name).join(", ");
      throw new CapflowError(
        "PROCESSOR_ARITY",
        `Template ${this.currentTemplate || "(message)"} of step "${this.scope.step}" calls processor "${name}" with ${args.length} argument(s); it takes ${expected} (${name}(${signature})).`,
        { context: this.#errorContext(name) },
      );
    }
    return processor;
  }

  #run(processor: RegisteredProcessor, args: unknown[], key: string): MemoEntry {
    const name = processor.metadata.name;
    const template = this.currentTemplate;
    let result: unknown;
    try {
      result = (processor.fn as (ctx: ProcessorContext, ...rest: unknown[]) => unknown)(
        this.context,
        ...args,
      );
    } catch (error) {
      const entry: MemoEntry = { state: "failed", error: this.#failure(name, template, error) };
      this.#memo.set(key, entry);
      return entry;
    }
    if (!isThenable(result)) {
      const entry: MemoEntry = { state: "resolved", value: result };
      this.#memo.set(key, entry);
      return entry;
    }
    const promise = Promise.resolve(result).then(
      (value) => {
        this.#memo.set(key, { state: "resolved", value });
        return value;
      },
      (error: unknown) => {
        const failure = this.#failure(name, template, error);
        this.#memo.set(key, { state: "failed", error: failure });
        throw failure;
      },
    );
    // Observed by whoever awaits it; this keeps an unobserved failure from being "unhandled".
    promise.catch(() => {});
    const entry: MemoEntry = { state: "pending", promise };
    this.#memo.set(key, entry);
    return entry;
  }

  #failure(name: string, template: string, error: unknown): CapflowError {
    // A failure of a nested call (`ctx.call`) already names its processor: keep it.
    if (error instanceof CapflowError && error.context.processor !== undefined) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new CapflowError(
      "PROCESSOR_FAILED",
      `Processor "${name}" failed in template ${template || "(message)"} of step "${this.scope.step}": ${reason}`,
      {
        context: { ...this.#errorContext(name), ...(template === "" ? {} : { template }) },
        cause: error,
        retryable: error instanceof CapflowError ? error.retryable : false,
      },
    );
  }

  #errorContext(processor?: string): Record<string, string> {
    const context: Record<string, string> = {
      channel: this.scope.channel.code,
      step: this.scope.step,
    };
    if (this.scope.behavior !== undefined) context.behavior = this.scope.behavior;
    if (this.currentTemplate !== "") context.template = this.currentTemplate;
    if (processor !== undefined) context.processor = processor;
    return context;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
