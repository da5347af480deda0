import { CapflowError, type ErrorCode } from "@capflow/core";

/**
 * Where a parsed JSON body holds a NUL character (U+0000), in a string or a property name, as the
 * field's path (`input.customer.name`, `input.items[2]`, `input["a-b"]`), or undefined. Walked
 * without recursion: a deeply nested body cannot overflow the stack.
 */
export function nulCharacterPath(body: unknown): string | undefined {
  const pending: { value: unknown; path: string }[] = [{ value: body, path: "" }];
  while (pending.length > 0) {
    const { value, path } = pending.pop()!;
    if (typeof value === "string") {
      if (value.includes("\u0000")) return path;
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    const entries = Array.isArray(value)
      ? value.map((item, index) => [index, item] as const)
      : Object.entries(value);
    // Reversed onto the stack, so the first field holding one is the one named.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      const at = `${path}${segment(key, path === "")}`;
      if (typeof key === "string" && key.includes("\u0000")) return at;
      pending.push({ value: item, path: at });
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
  const path = nulCharacterPath(body);
  if (path === undefined) return;
  const field = path === "" ? "the request body" : `the field ${path}`;
  throw new CapflowError(
    code,
    `${field} holds a NUL character (U+0000), which cannot be stored; send the request without it`,
    { context: { field: path } },
  );
}
