import type { MaskStyle } from "../../definition/types.ts";
import { maskStyles, maskValue } from "../mask.ts";
import { toMessageValue } from "../message-value.ts";
import type { ProcessorContext } from "../processor-types.ts";
import type { BuiltinProcessor } from "./builtin-processor.ts";

/**
 * A value by dotted path from the template root (`context.loan.amount`, `input.contacts.0.name`);
 * own properties only. Useful with a default, or where the path itself is data.
 */
export function lookupPath(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

const text = (value: unknown): string =>
  value === undefined || value === null ? "" : String(toMessageValue(value));

const length = (value: unknown): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`length must be a non-negative integer`);
  return n;
};

export const textProcessors: BuiltinProcessor[] = [
  {
    declaration: {
      name: "lookup",
      label: "取值",
      description:
        "The value at a dotted path from the template root (input.*, context.*), or the default when missing.",
      params: [
        { name: "path", type: "string", description: "e.g. context.loan.amount" },
        { name: "default", type: "any", optional: true },
      ],
      returns: "any",
    },
    fn: (ctx: ProcessorContext, path: unknown, fallback?: unknown) =>
      lookupPath(ctx.data, String(path)) ?? fallback,
  },
  {
    declaration: {
      name: "padStart",
      label: "左补齐",
      params: [
        { name: "value", type: "string" },
        { name: "length", type: "integer" },
        { name: "fill", type: "string", optional: true, description: 'Default " "' },
      ],
      returns: "string",
    },
    fn: (_ctx, value: unknown, n: unknown, fill?: unknown) =>
      text(value).padStart(length(n), fill === undefined ? " " : String(fill)),
  },
  {
    declaration: {
      name: "padEnd",
      label: "右补齐",
      params: [
        { name: "value", type: "string" },
        { name: "length", type: "integer" },
        { name: "fill", type: "string", optional: true, description: 'Default " "' },
      ],
      returns: "string",
    },
    fn: (_ctx, value: unknown, n: unknown, fill?: unknown) =>
      text(value).padEnd(length(n), fill === undefined ? " " : String(fill)),
  },
  {
    declaration: {
      name: "substring",
      label: "截取",
      description: "Characters from start (inclusive) to end (exclusive, default: the end).",
      params: [
        { name: "value", type: "string" },
        { name: "start", type: "integer" },
        { name: "end", type: "integer", optional: true },
      ],
      returns: "string",
    },
    fn: (_ctx, value: unknown, start: unknown, end?: unknown) => {
      const chars = [...text(value)];
      return chars.slice(length(start), end === undefined ? undefined : length(end)).join("");
    },
  },
  {
    declaration: {
      name: "json",
      label: "转JSON文本",
      description: "The JSON text of a value, e.g. to embed an object in a string field.",
      params: [{ name: "value", type: "any" }],
      returns: "string",
    },
    fn: (_ctx, value: unknown) => JSON.stringify(toMessageValue(value) ?? null),
  },
  {
    declaration: {
      name: "mask",
      label: "脱敏",
      description: `Masks personal data; styles: ${maskStyles.join(", ")}.`,
      params: [
        { name: "value", type: "string" },
        { name: "style", type: "string" },
      ],
      returns: "string",
    },
    fn: (_ctx, value: unknown, style: unknown) => maskValue(value, String(style) as MaskStyle),
  },
];
