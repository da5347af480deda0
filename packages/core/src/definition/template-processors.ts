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

/** A data path a template reads, e.g. `input.borrower.phone`, with where. */
export interface TemplateDataPath extends TemplateProcessorUse {
  parts: string[];
}

export type TemplateScan =
  | {
      ok: true;
      processors: TemplateProcessorUse[];
      /**
       * First names of the data paths read at the template's root scope (`inptu` of
       * `{{toCents inptu.amount}}`, `loanNo` of a bare `{{loanNo}}`). A bare single name may also
       * be a helper call without arguments; the caller knows the registered processors.
       */
      roots: TemplateProcessorUse[];
      /** The whole data paths read at the root scope (`["input", "amount"]`), as `name` dotted. */
      paths: TemplateDataPath[];
    }
  | { ok: false; message: string; line?: number; column?: number };

/**
 * Lists the processors a Handlebars template calls and the data names it reads. A bare
 * `{{name}}` reads data or calls a helper of that name (which one depends on the registry); a name
 * with parameters or hash arguments, or in a subexpression `(name …)`, is a helper call. Inside
 * blocks that change the context (`#each`, `#with`, block helpers) names refer to other data and
 * are not listed as roots.
 */
export function scanTemplateProcessors(template: string): TemplateScan {
  let program: hbs.AST.Program;
  try {
    program = Handlebars.parse(template);
  } catch (error) {
    return { ok: false, ...describeParseError(error) };
  }
  const found: Found = { processors: [], roots: [], paths: [] };
  visitProgram(program, found, true);
  return { ok: true, ...found };
}

interface Found {
  processors: TemplateProcessorUse[];
  roots: TemplateProcessorUse[];
  paths: TemplateDataPath[];
}

/** Blocks that render their body in the same context. */
const sameContextBlocks = new Set(["if", "unless"]);

function visitProgram(program: hbs.AST.Program | undefined, out: Found, atRoot: boolean): void {
  for (const statement of program?.body ?? []) visitNode(statement, out, atRoot);
}

interface CallNode extends hbs.AST.Node {
  path: hbs.AST.PathExpression | hbs.AST.Literal;
  params: hbs.AST.Expression[];
  hash?: hbs.AST.Hash;
}

function visitNode(node: hbs.AST.Node, out: Found, atRoot: boolean): void {
  const at = (name: string) => ({
    name,
    line: node.loc.start.line,
    column: node.loc.start.column + 1,
  });
  switch (node.type) {
    case "MustacheStatement":
    case "SubExpression":
    case "BlockStatement":
    case "DecoratorBlock": {
      const call = node as CallNode;
      const hasArguments = call.params.length > 0 || (call.hash?.pairs.length ?? 0) > 0;
      const name = helperName(call.path);
      if (name !== undefined && (hasArguments || node.type === "SubExpression")) {
        out.processors.push(at(name));
      } else if (atRoot && (node.type === "MustacheStatement" || node.type === "BlockStatement")) {
        const root = rootName(call.path);
        if (root !== undefined) {
          out.roots.push(at(root));
          const parts = (call.path as hbs.AST.PathExpression).parts;
          out.paths.push({ ...at(parts.join(".")), parts: [...parts] });
        }
      }
      for (const param of call.params) visitNode(param, out, atRoot);
      for (const pair of call.hash?.pairs ?? []) visitNode(pair.value, out, atRoot);
      if (node.type === "BlockStatement") {
        const block = node as hbs.AST.BlockStatement;
        const path = block.path as hbs.AST.PathExpression;
        const keepsContext = path.parts.length === 1 && sameContextBlocks.has(path.parts[0] ?? "");
        visitProgram(block.program, out, atRoot && keepsContext);
        visitProgram(block.inverse, out, atRoot && keepsContext);
      }
      return;
    }
    case "PathExpression": {
      const root = atRoot ? rootName(node as hbs.AST.PathExpression) : undefined;
      if (root !== undefined) {
        out.roots.push(at(root));
        const parts = (node as hbs.AST.PathExpression).parts;
        out.paths.push({ ...at(parts.join(".")), parts: [...parts] });
      }
      return;
    }
    default:
      return;
  }
}

/** The first name of a plain data path (`input` of `input.amount`); none for `this`, `@x`, `../x`. */
function rootName(path: hbs.AST.PathExpression | hbs.AST.Literal): string | undefined {
  if (path.type !== "PathExpression") return undefined;
  const expression = path as hbs.AST.PathExpression;
  if (expression.data || expression.depth > 0 || /^(this\b|\.)/.test(expression.original)) {
    return undefined;
  }
  const first = expression.parts[0];
  return first === undefined || builtInHelpers.has(first) ? undefined : first;
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
