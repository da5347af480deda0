import type { Redacted } from "../redacted.ts";

/**
 * Resolves a secret reference (`env:NAME`, `file:path`, or a scheme of your own such as
 * `vault:path`) to its bytes. Implementations must not log references' values and must throw
 * `CapflowError` `SECRET_NOT_FOUND` with a message naming the reference (never the value).
 */
export interface SecretResolver {
  resolve(reference: string, options?: SecretResolveOptions): Promise<Redacted<Buffer>>;
}

export interface SecretResolveOptions {
  /** Directory that relative `file:` references are resolved against (the definition's folder). */
  baseDir?: string;
}
