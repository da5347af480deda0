import { createRequire } from "node:module";

// handlebars is CommonJS with `export =` types; with esModuleInterop off, require keeps both the
// runtime value and its types right.
const Handlebars = createRequire(import.meta.url)("handlebars") as typeof import("handlebars");

/** Helpers Handlebars provides itself; they are never processors. */
const builtInHelpers = new Set([
  "if",
  "unless",
  "each",
  "with",
  "lookup",
  "log",
  "blockHelperMissing",
  "helperMissing",
]);

export interface TemplateProcessorUse {
  name: string;
  /** 1-based line and column of the use inside the template. */
  line: number;
  column: number;
}

export type TemplateScan =
  | { ok: true; processors: TemplateProcessorUse[] }
  | { ok: false; message: string; line?: number; column?: number };

/**
 * Lists the processors a Handlebars template calls. A bare `{{name}}` reads data (it would call
 * a helper of that name at render time only if one exists, so it cannot be told apart from a
 * field here); a name with parameters or hash arguments, or in a subexpression `(name …)`, is a
 * helper call.
 */
export function scanTemplateProcessors(template: string): TemplateScan {
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(template);
  } catch (error) {
    return { ok: false, ...describeParseError(error) };
  }
  const processors: TemplateProcessorUse[] = [];
  visitProgram(program, processors);
  return { ok: true, processors };
}

function visitProgram(program: hbs.AST.Program | undefined, out: TemplateProcessorUse[]): void {
  for (const statement of program?.body ?? []) visitNode(statement, out);
}

interface CallNode extends hbs.AST.Node {
  path: hbs.AST.PathExpression | hbs.AST.Literal;
  params: hbs.AST.Expression[];
  hash?: hbs.AST.Hash;
}

function visitNode(node: hbs.AST.Node, out: TemplateProcessorUse[]): void {
  switch (node.type) {
    case "MustacheStatement":
    case "SubExpression":
    case "BlockStatement":
    case "DecoratorBlock": {
      const call = node as CallNode;
      const hasArguments = call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0;
      const name = helperName(call.path);
      if (name !== undefined && (hasArguments || node.type === "SubExpression")) {
        out.push({ name, line: node.loc.start.line, column: node.loc.start.column + 1 });
      }
      for (const param of call.params) visitNode(param, out);
      for (const pair of call.hash?.pairs ?? []) visitNode(pair.value, out);
      if (node.type === "BlockStatement") {
        const block = node as hbs.AST.BlockStatement;
        visitProgram(block.program, out);
        visitProgram(block.inverse, out);
      }
      return;
    }
    default:
      return;
  }
}

function helperName(path: hbs.AST.PathExpression | hbs.AST.Literal): string | undefined {
  if (path.type !== "PathExpression") return undefined;
  const expression = path as hbs.AST.PathExpression;
  if (expression.data || expression.depth > 0 || expression.parts.length !== 1) return undefined;
  const name = expression.parts[0];
  return name === undefined || builtInHelpers.has(name) ? undefined : name;
}

function describeParseError(error: unknown): { message: string; line?: number; column?: number } {
  const text = error instanceof Error ? error.message : String(error);
  // Handlebars: "Parse error on line 1:\n{{now\n--^\nExpecting 'ID', …, got 'INVALID'".
  const parts = /^Parse error on line (\d+):\n(.*)\n(-*)\^\n(.*)$/s.exec(text);
  if (parts === null) return { message: text.split("\n")[0] ?? text };
  const [, line, excerpt = "", dashes = "", expectation = ""] = parts;
  const got = /got '([A-Z_]+)'/.exec(expectation)?.[1];
  const message =
    got === "EOF"
      ? "the template ends too early (an unclosed `{{`, `(` or `{{#block}}`)"
      : got === "INVALID"
        ? "unexpected character inside `{{ }}`"
        : `unexpected ${got ?? "token"}`;
  // The excerpt is a window of the line; its caret is exact only when the window is not cut.
  const column = excerpt.startsWith("...") ? undefined : dashes.length + 1;
  return { message, line: Number(line), ...(column === undefined ? {} : { column }) };
}
