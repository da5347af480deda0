import {
  findNodeAtLocation,
  getNodeValue,
  type Node as JsonNode,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from "jsonc-parser";
import { fromPointer, toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";

/** 1-based line and column of a place in a source file. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** Finds where the value at a JSON pointer starts; falls back to the nearest existing parent. */
export type PositionLocator = (pointer: string) => SourcePosition | undefined;

export interface ParsedJsonSource {
  /** The parsed value; undefined when the text is not JSON at all. */
  value: unknown;
  locate: PositionLocator;
  /** Syntax errors and duplicate keys. */
  problems: Problem[];
}

/**
 * Parses a definition file keeping positions. Comments and trailing commas are accepted (JSONC),
 * as editors do for `$schema`-annotated files. Duplicate keys are reported because plain JSON
 * parsing keeps the last one silently: two steps with the same code would lose one of them.
 */
export function parseJsonSource(file: string, text: string): ParsedJsonSource {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  const lineStarts = computeLineStarts(text);
  const positionAt = (offset: number): SourcePosition => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (lineStarts[low] ?? 0) + 1 };
  };
  const locate: PositionLocator = (pointer) => {
    if (root === undefined) return undefined;
    const segments = fromPointer(pointer);
    for (let length = segments.length; length >= 0; length--) {
      const path = segments.slice(0, length).map((segment, index) => {
        const parent = findNodeAtLocation(root, segments.slice(0, index));
        return parent?.type === "array" ? Number(segment) : segment;
      });
      const node = findNodeAtLocation(root, path);
      if (node === undefined) continue;
      // Point at the key of a property (`"routes": …`), like compilers do.
      const anchor = node.parent?.type === "property" ? node.parent : node;
      return positionAt(anchor.offset);
    }
    return undefined;
  };

  const problems: Problem[] = errors.map((error) => ({
    code: "syntax",
    file,
    pointer: "",
    ...positionAt(error.offset),
    message: `${describeParseError(printParseErrorCode(error.error))}; fix the JSON syntax here`,
  }));
  if (root !== undefined) collectDuplicateKeys(root, [], file, positionAt, problems);

  return { value: root === undefined ? undefined : getNodeValue(root), locate, problems };
}

function collectDuplicateKeys(
  node: JsonNode,
  path: (string | number)[],
  file: string,
  positionAt: (offset: number) => SourcePosition,
  problems: Problem[],
): void {
  if (node.type === "object") {
    const seen = new Map<string, JsonNode>();
    for (const property of node.children ?? []) {
      const [keyNode, valueNode] = property.children ?? [];
      if (keyNode === undefined) continue;
      const key = String(keyNode.value);
      const first = seen.get(key);
      if (first !== undefined) {
        const firstLine = positionAt(first.offset).line;
        // Step codes are the keys of `steps`: a repeated one is a duplicate step code.
        const isStepCode = path.length === 1 && path[0] === "steps";
        problems.push({
          code: isStepCode ? "duplicate-code" : "duplicate-key",
          file,
          pointer: toPointer([...path, key]),
          ...positionAt(keyNode.offset),
          message: isStepCode
            ? `step code "${key}" is already used on line ${firstLine}; rename one of the two steps`
            : `key "${key}" is already set on line ${firstLine}; remove one of them (the last one would win silently)`,
        });
      } else {
        seen.set(key, keyNode);
      }
      if (valueNode !== undefined) {
        collectDuplicateKeys(valueNode, [...path, key], file, positionAt, problems);
      }
    }
  } else if (node.type === "array") {
    (node.children ?? []).forEach((child, index) => {
      collectDuplicateKeys(child, [...path, index], file, positionAt, problems);
    });
  }
}

function computeLineStarts(text: string): number[] {
  const starts = [0];
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (char === 10) starts.push(index + 1);
    else if (char === 13 && text.charCodeAt(index + 1) !== 10) starts.push(index + 1);
  }
  return starts;
}

const parseErrorMessages: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: "expected `:` after the property name",
  CommaExpected: "expected `,` between entries",
  CloseBraceExpected: "expected `}`",
  CloseBracketExpected: "expected `]`",
  EndOfFileExpected: "unexpected content after the end of the definition",
  InvalidCommentToken: "invalid comment",
  UnexpectedEndOfComment: "unterminated comment",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "unterminated number",
  InvalidUnicode: "invalid unicode escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in string",
};

function describeParseError(name: string): string {
  return parseErrorMessages[name] ?? name;
}
