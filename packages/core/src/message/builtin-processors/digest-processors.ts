import { createHash } from "node:crypto";
import { toMessageValue } from "../message-value.ts";
import type { BuiltinProcessor } from "./builtin-processor.ts";

/** Hex digest of a string (UTF-8) or of a value's JSON text. SM3 comes from OpenSSL. */
export function hexDigest(algorithm: "md5" | "sha256" | "sm3", value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(toMessageValue(value) ?? null);
  return createHash(algorithm).update(text, "utf8").digest("hex");
}

const digest = (name: "md5" | "sha256" | "sm3", label: string): BuiltinProcessor => ({
  declaration: {
    name,
    label,
    description: `${name.toUpperCase()} of the UTF-8 text (objects: of their JSON), lower-case hex.`,
    params: [{ name: "value", type: "any" }],
    returns: "string",
  },
  fn: (_ctx, value: unknown) => hexDigest(name, value),
});

export const digestProcessors: BuiltinProcessor[] = [
  digest("md5", "MD5摘要"),
  digest("sha256", "SHA-256摘要"),
  digest("sm3", "SM3摘要"),
];
