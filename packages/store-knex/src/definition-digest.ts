import { createHash } from "node:crypto";
import { canonicalJson } from "@capflow/core/internal";

/**
 * `sha256:<hex>` of a definition's canonical JSON (object keys sorted at every depth), so
 * reformatting a file or reordering its keys is not a change, while any value change is. The
 * top-level `$schema` (an editor hint) is left out.
 */
export function definitionDigest(definition: object): string {
  const { $schema: _, ...rest } = definition as Record<string, unknown>;
  return `sha256:${createHash("sha256").update(canonicalJson(rest)).digest("hex")}`;
}
