import { Environment, type ParseResult } from "@marcbachmann/cel-js";
import { CapflowError, type ErrorContext } from "../errors.ts";
import { parseJson } from "./codecs/parse-json.ts";
import { toMessageValue } from "./message-value.ts";

/**
 * CEL (Common Expression Language) for routes, extraction, status codes, correlation: evaluated by
 * an interpreter, never `eval`. Expressions are parsed once and cached by their text.
 *
 * Numbers: CEL tells `int` from `double`, and `1 + 1.0` is an error. JSON numbers that are
 * integers enter CEL as `int` (so `fields.amount > 100` and `status == 200` work as written);
 * others as `double`. Strings stay strings: `"0000"` is never a number. Results come back as
 * plain JSON values (int -> number, or a string beyond 2^53).
 */
const environment = new Environment({
  unlistedVariablesAreDyn: true,
  // `body.?result.code.orValue("")`: an explicit default for optional fields.
  enableOptionalTypes: true,
  homogeneousAggregateLiterals: false,
}).registerFunction({
  signature: "parseJson(string): dyn",
  description:
    "The value of JSON text carried inside a field (Alipay's biz_content, a notification's JSON string)",
  handler: (text: string) => parseJsonField(text),
});

/**
 * `parseJson(body.biz_content).out_biz_no`: JSON text inside a field, read as the json codec
 * reads a body (numbers a double cannot hold stay their digits). Text that is not JSON is an
 * error of the expression (`EXTRACT_FAILED`), never a silent null.
 */
function parseJsonField(text: string): unknown {
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (error) {
    throw new Error(
      `parseJson: the field is not JSON text (${(error as Error).message.split("\n")[0]})`,
    );
  }
  return toCelValue(value);
}

/**
 * Parses with exactly the options the runtime evaluates with (optional types `.?x.orValue()`
 * included): what validation accepts is what runs. Throws cel-js's parse error.
 */
export function parseCel(text: string): ParseResult {
  return environment.parse(text);
}

/** A parsed expression, ready to evaluate many times. */
export interface CompiledExpression {
  readonly text: string;
  /** Evaluates over variables already converted with {@link toCelValue}; returns a CEL value. */
  evaluateCel(variables: Record<string, unknown>): unknown;
  /** Converts plain JSON variables in, the result out. */
  evaluate(variables: Record<string, unknown>): unknown;
}

const cacheLimit = 2000;
const cache = new Map<string, CompiledExpression>();

/**
 * Parses (or takes from the cache) a CEL expression. Throws `ROUTE_EXPRESSION_INVALID` (used for
 * every expression: routes, extraction, status tables) on a syntax error.
 */
export function parseExpression(text: string, context: ErrorContext = {}): CompiledExpression {
  const cached = cache.get(text);
  if (cached !== undefined) return cached;
  let program: ParseResult;
  try {
    program = environment.parse(text);
  } catch (error) {
    throw new CapflowError(
      "ROUTE_EXPRESSION_INVALID",
      `Expression ${JSON.stringify(text)} is not valid CEL: ${celSummary(error)}`,
      { context, cause: error },
    );
  }
  const compiled: CompiledExpression = {
    text,
    evaluateCel: (variables) => program(variables),
    evaluate: (variables) => fromCelValue(program(toCelVariables(variables))),
  };
  if (cache.size >= cacheLimit) cache.delete(cache.keys().next().value!);
  cache.set(text, compiled);
  return compiled;
}

/**
 * Parses (cached) and evaluates an expression over plain JSON variables; returns a plain JSON
 * value. Evaluation errors are `EXTRACT_FAILED`, except a missing field, which gives `null`
 * (as in {@link extractFields}). For correlation and dedupe keys of callbacks.
 */
export function evaluateExpression(
  text: string,
  variables: Record<string, unknown>,
  context: ErrorContext = {},
): unknown {
  const expression = parseExpression(text, context);
  try {
    return expression.evaluate(variables);
  } catch (error) {
    if (isMissingKeyError(error)) return null;
    throw new CapflowError(
      "EXTRACT_FAILED",
      `Expression ${JSON.stringify(text)} failed: ${celSummary(error)}`,
      { context, cause: error },
    );
  }
}

export type ExpressionCheck = { valid: true } | { valid: false; message: string };

/** Syntax and type check for the definition validator; never throws. */
export function checkExpression(text: string): ExpressionCheck {
  try {
    const result = environment.check(text);
    return result.valid ? { valid: true } : { valid: false, message: celSummary(result.error) };
  } catch (error) {
    return { valid: false, message: celSummary(error) };
  }
}

/** Whether a CEL evaluation failed because a map had no such key (a missing field). */
export function isMissingKeyError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "no_such_key";
}

/** The first line of a cel-js error (the rest draws the source with a caret). */
export function celSummary(error: unknown): string {
  const summary = (error as { summary?: unknown } | null)?.summary;
  if (typeof summary === "string") return summary;
  return String((error as Error | undefined)?.message ?? error).split("\n")[0] ?? "";
}

/**
 * The variables converted with {@link toCelValue}, each when an expression first reads it: a
 * route condition on `outcome` does not pay for converting the instance's whole input and
 * context. A name the variables do not have reads as absent (an unknown variable), as before
 * conversion.
 */
export function toCelVariables(variables: Record<string, unknown>): Record<string, unknown> {
  const converted = new Map<string, unknown>();
  return new Proxy(variables, {
    get(target, name) {
      if (typeof name !== "string" || !Object.hasOwn(target, name)) return undefined;
      if (converted.has(name)) return converted.get(name);
      const value = toCelValue(target[name]);
      converted.set(name, value);
      return value;
    },
  });
}

/** JSON value -> CEL value: integral numbers become `int` (bigint); undefined members drop. */
export function toCelValue(value: unknown): unknown {
  switch (typeof value) {
    case "number":
      return Number.isSafeInteger(value) ? BigInt(value) : value;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) return value.map((item) => toCelValue(item) ?? null);
      if (value instanceof Date || value instanceof Uint8Array) return value;
      const converted: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        if (item !== undefined) converted[key] = toCelValue(item);
      }
      return converted;
    }
    case "undefined":
      return null;
    default:
      return value;
  }
}

/** CEL value -> JSON value (bigint -> number or string, Map -> object, optional -> value). */
export function fromCelValue(value: unknown): unknown {
  if (value !== null && typeof value === "object") {
    const optional = value as { hasValue?: unknown; value?: unknown };
    if (typeof optional.hasValue === "function" && typeof optional.value === "function") {
      return (optional.hasValue as () => boolean)()
        ? fromCelValue((optional.value as () => unknown)())
        : null;
    }
    if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  }
  return toMessageValue(value) ?? null;
}
