import { parseCel as parseExpression } from "../message/cel.ts";
import { didYouMean } from "./closest-name.ts";
import {
  behaviorExpressions,
  behaviorTemplates,
  type LocatedString,
  productExpressions,
} from "./definition-strings.ts";
import { compileInputSchema, findUndeclaredInput } from "./input-schema.ts";
import type { Problem } from "./problem.ts";
import type { ProductDefinition } from "./product-types.ts";
import { scanTemplateProcessors } from "./template-processors.ts";
import type { BehaviorDefinition } from "./types.ts";

/**
 * A behavior's input schema must compile, and its templates and CEL expressions may read only
 * the input fields it declares: `{{input.amout}}` would render empty and `input.amout > 0` fail
 * at run time, long after `validate` could have said so. Nothing to check without a schema.
 */
export function checkInputReads(behavior: BehaviorDefinition, file: string): Problem[] {
  const schema = behavior.inputSchema;
  if (schema === undefined) return [];
  const compiled = compileInputSchema(schema);
  if (!compiled.ok) {
    return [
      {
        code: "input-schema",
        file,
        pointer: "/inputSchema",
        message: `the input schema does not compile: ${compiled.message}; fix it (JSON Schema draft-07)`,
      },
    ];
  }
  const problems: Problem[] = [];
  const report = (pointer: string, parts: readonly string[]) => {
    const found = findUndeclaredInput(schema, parts);
    if (found === undefined) return;
    const fix =
      found.parentType === undefined
        ? `declare "${found.name}" in "inputSchema" or fix the name${didYouMean(found.name, found.declared)}`
        : `the schema says ${found.path.slice(0, found.path.lastIndexOf("."))} is ${found.parentType}, which has no fields`;
    problems.push({
      code: "undeclared-input",
      file,
      pointer,
      message: `reads ${found.path}, which the behavior's input schema does not declare; ${fix}`,
    });
  };
  for (const { pointer, text } of behaviorTemplates(behavior)) {
    if (!text.includes("{{")) continue;
    const scan = scanTemplateProcessors(text);
    if (!scan.ok) continue; // reported as invalid-template
    for (const path of scan.paths) {
      if (path.parts[0] === "input" && path.parts.length > 1) report(pointer, path.parts.slice(1));
    }
  }
  for (const { pointer, text } of behaviorExpressions(behavior)) {
    for (const parts of celInputPaths(text)) report(pointer, parts);
  }
  return problems;
}

/**
 * A product's expressions (amount, customer, eligibility) read the input its behaviors start
 * with: each must read only fields that every behavior it may route to declares (behaviors
 * without a schema read anything). An eligibility condition is checked against its own channel's
 * behavior.
 */
export function checkProductInputReads(
  product: ProductDefinition,
  behaviors: ReadonlyMap<string, BehaviorDefinition>,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const reported = new Set<string>();
  const check = (
    expressions: readonly LocatedString[],
    behavior: BehaviorDefinition | undefined,
  ) => {
    const schema = behavior?.inputSchema;
    if (behavior === undefined || schema === undefined || !compileInputSchema(schema).ok) return;
    for (const { pointer, text } of expressions) {
      for (const parts of celInputPaths(text)) {
        const found = findUndeclaredInput(schema, parts);
        if (found === undefined) continue;
        const key = `${pointer}\u0000${found.path}`;
        if (reported.has(key)) continue;
        reported.add(key);
        problems.push({
          code: "undeclared-input",
          file,
          pointer,
          message: `reads ${found.path}, which the input schema of ${behavior.channel}/${behavior.code} does not declare; declare it there or fix the name${didYouMean(found.name, found.declared)}`,
        });
      }
    }
  };
  const shared = productExpressions(product).filter(
    ({ pointer }) => pointer === "/amount" || pointer === "/customer",
  );
  product.channels.forEach((entry, index) => {
    const behavior = behaviors.get(`${entry.channel}/${entry.behavior}`);
    check(shared, behavior);
    if (entry.when !== undefined) {
      check([{ pointer: `/channels/${index}/when`, text: entry.when }], behavior);
    }
  });
  return problems;
}

interface CelNode {
  op: string;
  args: unknown;
}

/**
 * The input fields a CEL expression reads, as paths below `input` (`input.borrower.phone` and
 * `input["borrower"].phone` give `["borrower", "phone"]`); a computed index ends the path.
 * Empty when the expression does not parse (reported as invalid-expression).
 */
export function celInputPaths(text: string): string[][] {
  let ast: unknown;
  try {
    ast = parseExpression(text).ast;
  } catch {
    return [];
  }
  const found: string[][] = [];
  visit(ast, found);
  return found;
}

function isNode(value: unknown): value is CelNode {
  return typeof value === "object" && value !== null && typeof (value as CelNode).op === "string";
}

const memberOps = new Set([".", ".?"]);
const indexOps = new Set(["[]", "[?]"]);

/** The path below `input` a member chain reads, and the computed index expressions to visit. */
function inputPath(node: CelNode): { parts: string[]; complete: boolean } | undefined {
  if (node.op === "id") return node.args === "input" ? { parts: [], complete: true } : undefined;
  const args = node.args as unknown[];
  if (memberOps.has(node.op) && isNode(args[0]) && typeof args[1] === "string") {
    const base = inputPath(args[0]);
    if (base === undefined) return undefined;
    return base.complete ? { parts: [...base.parts, args[1]], complete: true } : base;
  }
  if (indexOps.has(node.op) && isNode(args[0])) {
    const base = inputPath(args[0]);
    if (base === undefined) return undefined;
    const index = args[1];
    if (base.complete && isNode(index) && index.op === "value" && typeof index.args === "string") {
      return { parts: [...base.parts, index.args], complete: true };
    }
    return { parts: base.parts, complete: false };
  }
  return undefined;
}

function visit(value: unknown, found: string[][]): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, found);
    return;
  }
  if (!isNode(value)) return;
  if (memberOps.has(value.op) || indexOps.has(value.op)) {
    const path = inputPath(value);
    if (path !== undefined) {
      if (path.parts.length > 0) found.push(path.parts);
      // Only computed indexes below the chain can read more.
      visitIndexes(value, found);
      return;
    }
  }
  visit(value.args, found);
}

function visitIndexes(node: CelNode, found: string[][]): void {
  const args = node.args as unknown[];
  if (memberOps.has(node.op) && isNode(args[0])) visitIndexes(args[0], found);
  if (indexOps.has(node.op)) {
    if (isNode(args[0])) visitIndexes(args[0], found);
    visit(args[1], found);
  }
}
