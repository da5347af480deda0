import { createRequire } from "node:module";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { closestName } from "./closest-name.ts";
import { appendPointer } from "./json-pointer.ts";

// ajv-formats is CommonJS with a default export; require keeps its runtime value and types.
const addFormats = createRequire(import.meta.url)(
  "ajv-formats",
) as typeof import("ajv-formats").default;

/**
 * The JSON Schema (draft-07) of a behavior's input. `engine.start` refuses input that does not
 * match it, and `capflow validate` checks that templates and expressions read only the fields it
 * declares.
 */
export type InputSchema = Record<string, unknown>;

/** One reason the input does not match: where (a JSON pointer into the input) and what is wrong. */
export interface InputFieldProblem {
  /** JSON pointer into the input, e.g. `/amount` or `/borrower/phone`; `""` for the whole input. */
  pointer: string;
  /** What is wrong, without the value itself (input holds personal data). */
  message: string;
}

export type InputSchemaCompilation =
  | { ok: true; validate: (input: unknown) => InputFieldProblem[] }
  | { ok: false; message: string };

let ajv: Ajv | undefined;

function inputAjv(): Ajv {
  if (ajv === undefined) {
    // Unknown keywords are refused (a misspelt "requried" would otherwise check nothing); type
    // hints in the author's style ("properties" without "type") are not.
    ajv = new Ajv({
      allErrors: true,
      strict: true,
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      allowUnionTypes: true,
      logger: false,
      // For `parentSchema` in errors: the suggestion for an unknown field.
      verbose: true,
    });
    addFormats(ajv);
  }
  return ajv;
}

const compiled = new WeakMap<InputSchema, InputSchemaCompilation>();

/** Compiles a behavior's input schema once (per schema object) into a checker of inputs. */
export function compileInputSchema(schema: InputSchema): InputSchemaCompilation {
  const known = compiled.get(schema);
  if (known !== undefined) return known;
  let result: InputSchemaCompilation;
  try {
    const { $schema: _ignored, $id: _id, ...rest } = schema;
    const validate = inputAjv().compile(rest);
    result = { ok: true, validate: (input) => inputProblems(validate, input) };
  } catch (error) {
    result = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  compiled.set(schema, result);
  return result;
}

function inputProblems(validate: ValidateFunction, input: unknown): InputFieldProblem[] {
  if (validate(input)) return [];
  const problems: InputFieldProblem[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const problem = describeError(error);
    const key = `${problem.pointer}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

function describeError(error: ErrorObject): InputFieldProblem {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return {
        pointer: appendPointer(error.instancePath, String(params.missingProperty)),
        message: "is required",
      };
    case "additionalProperties": {
      const name = String(params.additionalProperty);
      const allowed = Object.keys(
        (error.parentSchema as { properties?: Record<string, unknown> }).properties ?? {},
      );
      const suggestion = closestName(name, allowed);
      return {
        pointer: appendPointer(error.instancePath, name),
        message: `is not a field of this input${suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`}`,
      };
    }
    case "type":
      return { pointer: error.instancePath, message: `must be ${article(String(params.type))}` };
    case "enum":
      return {
        pointer: error.instancePath,
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    default:
      return { pointer: error.instancePath, message: error.message ?? "is invalid" };
  }
}

function article(type: string): string {
  return type
    .split(",")
    .map((name) => (/^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`))
    .join(" or ");
}

/** Where a read of the input leaves what the schema declares. */
export interface UndeclaredInputField {
  /** The path read, as written (`input.borrower.phon`). */
  path: string;
  /** The first segment the schema does not declare (`phon`). */
  name: string;
  /** What the schema declares at that level, for a suggestion. */
  declared: string[];
  /** Set when the parent is a value without fields (`input.amount.cents` of a number). */
  parentType?: string;
}

type SchemaNode = Record<string, unknown> | boolean;

/**
 * Checks that the schema declares a path of the input (`["borrower", "phone"]`). An object that
 * declares no properties, or allows additional ones, is free-form: anything under it is declared.
 * Follows local `$ref`s, `allOf`/`anyOf`/`oneOf`, `if`/`then`/`else`, arrays' `items`.
 */
export function findUndeclaredInput(
  schema: InputSchema,
  path: readonly string[],
): UndeclaredInputField | undefined {
  let level: SchemaNode[] = [schema];
  for (let index = 0; index < path.length; index++) {
    const segment = path[index]!;
    const alternatives = level.flatMap((node) => expand(node, schema, 0));
    const open = (node: SchemaNode) =>
      node === true || (typeof node === "object" && node.additionalProperties === true);
    if (alternatives.some(open)) return undefined;
    if (!alternatives.some(constrainsFields)) return undefined;
    const next: SchemaNode[] = [];
    const declared = new Set<string>();
    let anyContainer = false;
    const scalarTypes = new Set<string>();
    for (const node of alternatives) {
      if (typeof node === "boolean") continue;
      const types = typesOf(node);
      if (types !== undefined && !types.some((type) => type === "object" || type === "array")) {
        for (const type of types) scalarTypes.add(type);
        continue;
      }
      anyContainer = true;
      const properties = node.properties as Record<string, SchemaNode> | undefined;
      for (const name of Object.keys(properties ?? {})) declared.add(name);
      if (properties !== undefined && Object.hasOwn(properties, segment)) {
        next.push(properties[segment]!);
      }
      for (const [pattern, child] of Object.entries(
        (node.patternProperties as Record<string, SchemaNode> | undefined) ?? {},
      )) {
        if (new RegExp(pattern, "u").test(segment)) next.push(child);
      }
      const additional = node.additionalProperties as SchemaNode | undefined;
      if (typeof additional === "object") next.push(additional);
      const items = node.items as SchemaNode | SchemaNode[] | undefined;
      if (items !== undefined || types?.includes("array")) {
        // Templates read an array's length; CEL uses size().
        if (segment === "length") return undefined;
        if (/^\d+$/.test(segment)) {
          if (Array.isArray(items)) {
            const item = items[Number(segment)];
            if (item !== undefined) next.push(item);
            else if (node.additionalItems !== false) return undefined;
          } else {
            next.push(items ?? true);
          }
        }
      }
    }
    if (next.length === 0) {
      const written = `input.${path.slice(0, index + 1).join(".")}`;
      if (!anyContainer && scalarTypes.size > 0) {
        return {
          path: written,
          name: segment,
          declared: [],
          parentType: [...scalarTypes].join(" or "),
        };
      }
      return { path: written, name: segment, declared: [...declared] };
    }
    level = next;
  }
  return undefined;
}

/** The node and what it is made of: resolved `$ref`s, combinators, conditional branches. */
function expand(node: SchemaNode, root: InputSchema, depth: number): SchemaNode[] {
  if (typeof node === "boolean" || depth > 32) return [node];
  const found: SchemaNode[] = [node];
  if (typeof node.$ref === "string") {
    const target = resolveRef(node.$ref, root);
    // An unresolvable reference is compile's problem; here it declares anything.
    found.push(...(target === undefined ? [true] : expand(target, root, depth + 1)));
  }
  for (const key of ["allOf", "anyOf", "oneOf"]) {
    const list = node[key];
    if (Array.isArray(list)) {
      for (const item of list as SchemaNode[]) found.push(...expand(item, root, depth + 1));
    }
  }
  for (const key of ["then", "else"]) {
    const branch = node[key] as SchemaNode | undefined;
    if (branch !== undefined) found.push(...expand(branch, root, depth + 1));
  }
  return found;
}

function resolveRef(ref: string, root: InputSchema): SchemaNode | undefined {
  if (!ref.startsWith("#")) return undefined;
  let value: unknown = root;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const segment = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return typeof value === "object" || typeof value === "boolean"
    ? (value as SchemaNode)
    : undefined;
}

/**
 * Whether a node says which fields exist below it: declared properties, a closed or typed
 * `additionalProperties`, items, or a type without fields. `{ "type": "object" }` alone, or a
 * node with only `required`, declares nothing: any field is allowed.
 */
function constrainsFields(node: SchemaNode): boolean {
  if (typeof node === "boolean") return !node;
  if (node.additionalProperties === true) return false;
  if (
    node.properties !== undefined ||
    node.patternProperties !== undefined ||
    node.additionalProperties !== undefined ||
    node.items !== undefined
  ) {
    return true;
  }
  const types = typesOf(node);
  return types !== undefined && !types.some((type) => type === "object" || type === "array");
}

function typesOf(node: Record<string, unknown>): string[] | undefined {
  const type = node.type;
  if (typeof type === "string") return [type];
  if (Array.isArray(type)) return type.map(String);
  return undefined;
}
