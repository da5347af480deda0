import { CapflowError, type ErrorCode } from "@capflow/core";

/**
 * How deep a request body may nest. The engine reads bodies with recursive code (digests, checks,
 * templates) whose stack a body of a few kilobytes of `[[[[…` would overflow; no funder message
 * or upstream request nests anywhere near this.
 */
export const maxBodyDepth = 64;

/** What in a parsed JSON body cannot be taken, and where. */
interface BodyProblem {
  kind: "nul" | "depth";
  path: string;
}

/**
 * Where a parsed JSON body holds a NUL character (U+0000), in a string or a property name, or
 * nests deeper than `maxBodyDepth`, as the field's path (`input.customer.name`, `input.items[2]`,
 * `input["a-b"]`), or undefined. Walked without recursion, so the walk itself cannot overflow.
 */
export function unstorableBodyPart(body: unknown): BodyProblem | undefined {
  const pending: { value: unknown; path: string; depth: number }[] = [
    { value: body, path: "", depth: 0 },
  ];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === "string") {
      if (value.includes("\u0000")) return { kind: "nul", path };
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth >= maxBodyDepth) return { kind: "depth", path };
    const entries = Array.isArray(value)
      ? value.map((item, index) => [index, item] as const)
      : Object.entries(value);
    // Reversed onto the stack, so the first field holding one is the one named.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      const at = `${path}${segment(key, path === "")}`;
      if (typeof key === "string" && key.includes("\u0000")) return { kind: "nul", path: at };
      pending.push({ value: item, path: at, depth: depth + 1 });
    }
  }
  return undefined;
}

function segment(key: string | number, first: boolean): string {
  if (typeof key === "number") return `[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return first ? key : `.${key}`;
  // JSON.stringify writes a NUL as \u0000: the message holds no NUL itself.
  return `[${JSON.stringify(key)}]`;
}

/**
 * Refuses a request body holding a NUL character anywhere with `code`, naming the field: PostgreSQL
 * stores no NUL in text or jsonb, so such a request would fail in the database (500) after work
 * was done. Checked before anything is stored.
 */
export function refuseNulCharacters(body: unknown, code: ErrorCode): void {
  const problem = unstorableBodyPart(body);
  if (problem === undefined) return;
  // A path through a deep body is long: the message names its start.
  const path = problem.path.length > 200 ? `${problem.path.slice(0, 199)}…` : problem.path;
  const field = path === "" ? "the request body" : `the field ${path}`;
  throw new CapflowError(
    code,
    problem.kind === "nul"
      ? `${field} holds a NUL character (U+0000), which cannot be stored; send the request without it`
      : `${field} nests more than ${maxBodyDepth} levels deep; send a flatter body`,
    { context: { field: path } },
  );
}
