import { CapflowError } from "../errors.ts";
import { handlebars } from "./handlebars-environment.ts";

/**
 * Handlebars syntax trees of message templates: parsing each templated string, and rewriting
 * its mustaches so that the compiled program hands values to capflow's slot helpers instead of
 * printing them.
 */

export type Program = hbs.AST.Program;
export type Statement = hbs.AST.Statement;
type MustacheStatement = hbs.AST.MustacheStatement;
type Expression = hbs.AST.Expression;

/**
 * How a template string becomes part of the message:
 * - `text`: rendered to a string (any string that is not exactly one mustache);
 * - `value`: exactly one mustache; keeps the type of its value (number, boolean, object);
 * - `header`: like `value`, then turned into a string; left out when missing;
 * - `uri`: the path; every mustache value is percent-encoded so it stays one path segment.
 */
export type LeafKind = "text" | "value" | "header" | "uri";

/** Names of the internal helpers compiled programs call (see internal-helpers.ts). */
export const internalHelperNames = {
  leaf: "__capflowLeaf",
  set: "__capflowSet",
  named: "__capflowNamed",
  namedValue: "__capflowNamedValue",
  uri: "__capflowUri",
} as const;

const {
  leaf: helperLeaf,
  set: helperSet,
  named: helperNamed,
  namedValue: helperNamedValue,
  uri: helperUri,
} = internalHelperNames;

/** `{{input.amount}}`: a dotted data path from the root, readable without Handlebars. */
export function directPath(mustache: MustacheStatement): string[] | undefined {
  const { path, params, hash } = mustache;
  if (params.length > 0 || (hash !== undefined && hash.pairs.length > 0)) return undefined;
  if (path.type !== "PathExpression") return undefined;
  const p = path as hbs.AST.PathExpression;
  if (p.data || p.depth !== 0 || p.parts.length < 2 || p.original !== p.parts.join(".")) {
    return undefined;
  }
  return p.parts;
}

/** Names in helper position (calls, sub-expressions, blocks, bare names) anywhere in a program. */
export function collectHelperNames(node: unknown, names: Set<string>): void {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const item of node) collectHelperNames(item, names);
    return;
  }
  const record = node as Record<string, unknown>;
  const path = record.path as hbs.AST.PathExpression | undefined;
  if (
    (record.type === "MustacheStatement" ||
      record.type === "SubExpression" ||
      record.type === "BlockStatement") &&
    path?.type === "PathExpression" &&
    !path.data &&
    path.parts.length === 1
  ) {
    names.add(path.parts[0]!);
  }
  for (const [key, value] of Object.entries(record)) {
    if (key !== "loc" && value !== null && typeof value === "object") {
      collectHelperNames(value, names);
    }
  }
}

export function parseLeaf(text: string, pointer: string): Program {
  try {
    return handlebars.parse(text);
  } catch (error) {
    throw new CapflowError(
      "TEMPLATE_COMPILE_FAILED",
      `Template ${pointer} does not parse: ${(error as Error).message}`,
      { context: { template: pointer }, cause: error },
    );
  }
}

/** Exactly one mustache and nothing else (e.g. `{{toCents input.amount}}`). */
export function isSingleMustache(program: Program): boolean {
  return program.body.length === 1 && program.body[0]!.type === "MustacheStatement";
}

export function leafStatement(slot: number, program: Program, kind: LeafKind): Statement {
  const slotParam = {
    type: "NumberLiteral",
    value: slot,
    original: slot,
    loc: noLocation,
  } as hbs.AST.NumberLiteral;
  if (kind === "value" || kind === "header") {
    return wrapMustache(program.body[0] as MustacheStatement, helperSet, slotParam);
  }
  const block: hbs.AST.BlockStatement = {
    type: "BlockStatement",
    path: pathExpression(helperLeaf),
    params: [slotParam],
    hash: undefined as unknown as hbs.AST.Hash,
    program: kind === "uri" ? wrapAllMustaches(program, helperUri) : program,
    inverse: undefined as unknown as Program,
    openStrip: { open: false, close: false },
    inverseStrip: { open: false, close: false },
    closeStrip: { open: false, close: false },
    loc: noLocation,
  };
  return block;
}

/**
 * `{{expr a b}}` -> `{{hook slot? (expr a b)}}`; `{{a.b}}` -> `{{hook slot? a.b}}`;
 * `{{name}}` -> `{{__capflowNamed slot "name" this}}` (a processor or data, decided at render).
 */
function wrapMustache(
  mustache: MustacheStatement,
  hook: string,
  slot?: hbs.AST.NumberLiteral,
): MustacheStatement {
  const lead: Expression[] = slot === undefined ? [] : [slot];
  const { path, params, hash } = mustache;
  let hookParams: Expression[];
  if (params.length > 0 || (hash !== undefined && hash.pairs.length > 0)) {
    const sub: hbs.AST.SubExpression = {
      type: "SubExpression",
      path: path as hbs.AST.PathExpression,
      params,
      hash,
      loc: mustache.loc,
    };
    hookParams = [sub];
  } else if (isAmbiguousName(path)) {
    const name = (path as hbs.AST.PathExpression).original;
    const nameParams: Expression[] = [
      {
        type: "StringLiteral",
        value: name,
        original: name,
        loc: noLocation,
      } as hbs.AST.StringLiteral,
      pathExpression("this"),
    ];
    if (slot !== undefined) {
      return {
        ...mustache,
        path: pathExpression(helperNamed),
        params: [slot, ...nameParams],
        hash: undefined as unknown as hbs.AST.Hash,
      };
    }
    const sub: hbs.AST.SubExpression = {
      type: "SubExpression",
      path: pathExpression(helperNamedValue),
      params: nameParams,
      hash: undefined as unknown as hbs.AST.Hash,
      loc: mustache.loc,
    };
    hookParams = [sub];
  } else {
    hookParams = [path];
  }
  return {
    ...mustache,
    path: pathExpression(hook),
    params: [...lead, ...hookParams],
    hash: undefined as unknown as hbs.AST.Hash,
  };
}

function wrapAllMustaches(program: Program, hook: string): Program {
  return {
    ...program,
    body: program.body.map((statement: Statement): Statement => {
      if (statement.type === "MustacheStatement") {
        return wrapMustache(statement as MustacheStatement, hook);
      }
      if (statement.type === "BlockStatement") {
        const block = statement as hbs.AST.BlockStatement;
        return {
          ...block,
          program: block.program && wrapAllMustaches(block.program, hook),
          inverse: block.inverse && wrapAllMustaches(block.inverse, hook),
        } as Statement;
      }
      return statement;
    }),
  };
}

function isAmbiguousName(path: Expression): boolean {
  if (path.type !== "PathExpression") return false;
  const p = path as hbs.AST.PathExpression;
  return !p.data && p.depth === 0 && p.parts.length === 1 && p.original === p.parts[0];
}

function pathExpression(name: string): hbs.AST.PathExpression {
  const isThis = name === "this";
  return {
    type: "PathExpression",
    data: false,
    depth: 0,
    parts: isThis ? [] : [name],
    original: name,
    loc: noLocation,
  };
}

export const noLocation = {
  source: "",
  start: { line: 1, column: 0 },
  end: { line: 1, column: 0 },
} as hbs.AST.SourceLocation;

export function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}
