/**
 * Where a value holds a NUL character (U+0000), as a JSON pointer, or undefined. PostgreSQL's
 * jsonb and text cannot store it, so such input is refused before anything is stored, with the
 * place named (never the value: it may be personal data).
 */
export function findNulByte(value: unknown, pointer = ""): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? pointer || "/" : undefined;
  if (value === null || typeof value !== "object") return undefined;
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value);
  for (const [key, item] of entries) {
    const at = `${pointer}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (key.includes("\u0000")) return at;
    const found = findNulByte(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}
