import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { closestName } from "./closest-name.ts";
import { appendPointer, fromPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { ProductDefinition } from "./product-types.ts";
import type { BehaviorDefinition, ChannelDefinition } from "./types.ts";

/**
 * The published JSON Schemas (packages/core/schema/*.schema.json), compiled once. They are read
 * from the package folder rather than inlined so that editors, `$schema` references and this
 * validator all use the very same files.
 */
export type DefinitionKind = "channel" | "behavior" | "product" | "client";

const schemaFiles: Record<DefinitionKind, URL> = {
  channel: new URL("../../schema/channel.schema.json", import.meta.url),
  behavior: new URL("../../schema/behavior.schema.json", import.meta.url),
  product: new URL("../../schema/product.schema.json", import.meta.url),
  client: new URL("../../schema/client.schema.json", import.meta.url),
};

/** The JSON Schema document of a definition kind. */
export function definitionSchema(kind: DefinitionKind): Record<string, unknown> {
  return JSON.parse(readFileSync(schemaFiles[kind], "utf8")) as Record<string, unknown>;
}

let validators: Record<DefinitionKind, ValidateFunction> | undefined;

function getValidators(): Record<DefinitionKind, ValidateFunction> {
  if (validators === undefined) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    validators = {
      channel: ajv.compile(definitionSchema("channel")),
      behavior: ajv.compile(definitionSchema("behavior")),
      product: ajv.compile(definitionSchema("product")),
      client: ajv.compile(definitionSchema("client")),
    };
  }
  return validators;
}

export function isChannelDefinition(value: unknown): value is ChannelDefinition {
  return getValidators().channel(value);
}

export function isBehaviorDefinition(value: unknown): value is BehaviorDefinition {
  return getValidators().behavior(value);
}

export function isProductDefinition(value: unknown): value is ProductDefinition {
  return getValidators().product(value);
}

/** Validates against the schema and translates Ajv's errors into plain problems. */
export function checkSchema(kind: DefinitionKind, value: unknown, file: string): Problem[] {
  const validate = getValidators()[kind];
  if (validate(value)) return [];
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const problem = translateError(error, value, file);
    if (problem === undefined) continue;
    const key = `${problem.code}\u0000${problem.pointer}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/** Properties through which a step leads somewhere; a terminal step may have none of them. */
const exitProperties = new Set([
  "routes",
  "otherwise",
  "next",
  "onUnknownOutcome",
  "onRetryExhausted",
  "onDeadline",
  "onExhausted",
]);

const durationPattern = "^\\d+(ms|s|m|h|d)$";
const codePattern = "^[A-Za-z][A-Za-z0-9_.-]*$";
const decimalPattern = "^\\d{1,18}(\\.\\d{1,6})?$";

function translateError(error: ErrorObject, root: unknown, file: string): Problem | undefined {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    // `if` only says "must match then"; the `then` branch reports the useful errors.
    case "if":
    // Reported through the inner error, which carries the offending name.
    case "propertyNames":
      return undefined;
    case "additionalProperties": {
      const property = String(params.additionalProperty);
      const pointer = appendPointer(at, property);
      const parent = valueAt(root, at);
      if (isStepObject(parent, at) && parent.kind === "terminal" && exitProperties.has(property)) {
        return {
          code: "terminal-has-routes",
          file,
          pointer,
          message: `terminal step "${stepCodeOf(at)}" cannot have "${property}": a terminal step ends the instance; remove "${property}" or change the step's kind`,
        };
      }
      const allowed = Object.keys(
        (error.parentSchema as { properties?: Record<string, unknown> }).properties ?? {},
      ).filter((name) => name !== "$schema");
      const suggestion = closestName(property, allowed);
      const hint =
        suggestion === undefined
          ? `allowed: ${allowed.join(", ")}`
          : `did you mean "${suggestion}"?`;
      const where = isStepObject(parent, at) ? `a ${String(parent.kind)} step` : describe(at);
      return {
        code: "schema",
        file,
        pointer,
        message: `unknown property "${property}" in ${where}; remove it or fix the spelling (${hint})`,
      };
    }
    case "required": {
      const missing = String(params.missingProperty);
      const parent = valueAt(root, at);
      if (
        isStepObject(parent, at) &&
        parent.kind === "callback" &&
        (missing === "deadline" || missing === "onDeadline")
      ) {
        return {
          code: "callback-without-deadline",
          file,
          pointer: at,
          // Same message for both properties so the two errors collapse into one problem.
          message: `callback step "${stepCodeOf(at)}" has no deadline: a lost callback would stall the instance forever; add "deadline" (e.g. "30m") and "onDeadline" (normally a query step)`,
        };
      }
      return {
        code: "schema",
        file,
        pointer: at,
        message: `${describe(at)} is missing the required property "${missing}"`,
      };
    }
    case "pattern": {
      const pattern = String(params.pattern);
      const text = JSON.stringify(error.data);
      const pointer = namePointer(error);
      if (pattern === durationPattern) {
        return {
          code: "schema",
          file,
          pointer,
          message: `${text} is not a duration; write a whole number and a unit (ms, s, m, h, d), e.g. "15s" or "3m"`,
        };
      }
      if (pattern === decimalPattern) {
        return {
          code: "schema",
          file,
          pointer,
          message: `${text} is not a decimal amount; write it as a string of digits with at most 6 decimals, e.g. "5000000.00"`,
        };
      }
      if (pattern === codePattern) {
        return {
          code: "schema",
          file,
          pointer,
          message: `${text} is not a valid code; start with a letter and use only letters, digits, "_", "." or "-"`,
        };
      }
      return {
        code: "schema",
        file,
        pointer,
        message: `${describe(at)} ${patternHint(pattern)} (found ${text})`,
      };
    }
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map((value) => JSON.stringify(value));
      return {
        code: "schema",
        file,
        pointer: at,
        message: `${describe(at)} is ${JSON.stringify(error.data)}; use one of ${allowed.join(", ")}`,
      };
    }
    case "type":
      return {
        code: "schema",
        file,
        pointer: at,
        message: `${describe(at)} must be ${article(String(params.type))} (found ${typeName(error.data)})`,
      };
    default:
      return {
        code: "schema",
        file,
        pointer: at,
        message: `${describe(at)} ${error.message ?? "is invalid"}`,
      };
  }
}

/** For errors on property names (propertyNames), point at the offending key itself. */
function namePointer(error: ErrorObject): string {
  const name = (error as ErrorObject & { propertyName?: string }).propertyName;
  return name === undefined ? error.instancePath : appendPointer(error.instancePath, name);
}

function patternHint(pattern: string): string {
  if (pattern === "^https?://") return "must start with http:// or https://";
  if (pattern === "^/") return "must start with /";
  return `must match ${pattern}`;
}

function isStepObject(value: unknown, pointer: string): value is Record<string, unknown> {
  const segments = fromPointer(pointer);
  return (
    segments.length === 2 && segments[0] === "steps" && typeof value === "object" && value !== null
  );
}

function stepCodeOf(pointer: string): string {
  return fromPointer(pointer)[1] ?? "";
}

function describe(pointer: string): string {
  const segments = fromPointer(pointer);
  if (segments.length === 0) return "the definition";
  if (segments.length === 2 && segments[0] === "steps") return `step "${segments[1]}"`;
  const last = segments[segments.length - 1] ?? "";
  return /^\d+$/.test(last) ? `item ${last} of "${segments[segments.length - 2]}"` : `"${last}"`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const segment of fromPointer(pointer)) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function article(type: string): string {
  const names = type.split(",");
  return names.map((name) => (/^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`)).join(" or ");
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return article(typeof value === "number" && Number.isInteger(value) ? "integer" : typeof value);
}
