/**
 * JSON with object keys sorted at every depth (and undefined members left out), so equal values
 * always give equal text: the basis of input digests (idempotent start) and definition digests
 * (a reformatted file is not a new version). Hand-written because it is eight lines and must never
 * change its output; no library guarantees that across versions.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
