import { readFile } from "node:fs/promises";
import { isAbsolute, resolve as resolvePath } from "node:path";
import { CapflowError } from "../errors.ts";
import type { SecretResolveOptions, SecretResolver } from "../ports/secret-resolver.ts";
import { Redacted } from "../redacted.ts";
import { describeRef, referenceScheme } from "./secret-reference.ts";

/**
 * Secret resolvers for the `SecretResolver` port, one per reference scheme, and a composite that
 * dispatches on the scheme. Messages name the reference (which is configuration, not a secret),
 * never the value.
 */

/** `env:NAME`: the environment variable's value as UTF-8 bytes. */
export function createEnvSecretResolver(
  env: Record<string, string | undefined> = process.env,
): SecretResolver {
  return {
    async resolve(reference) {
      const name = stripScheme(reference, "env");
      const value = env[name];
      if (value === undefined || value === "") {
        throw notFound(reference, `environment variable ${name} is not set`);
      }
      return Redacted.of(Buffer.from(value, "utf8"));
    },
  };
}

/** `file:path`: the file's bytes; relative paths resolve against `options.baseDir` (the channel file's folder). */
export function createFileSecretResolver(defaultBaseDir: string = process.cwd()): SecretResolver {
  return {
    async resolve(reference, options?: SecretResolveOptions) {
      const path = stripScheme(reference, "file");
      const full = isAbsolute(path) ? path : resolvePath(options?.baseDir ?? defaultBaseDir, path);
      try {
        return Redacted.of(await readFile(full));
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw notFound(
          reference,
          `cannot read ${full}${typeof code === "string" ? ` (${code})` : ""}`,
        );
      }
    },
  };
}

/**
 * `inline:value`: the text after the scheme. Only for tests and examples: production channel
 * files must not carry key material, so the default resolver rejects it unless enabled.
 */
export function createInlineSecretResolver(): SecretResolver {
  return {
    async resolve(reference) {
      return Redacted.of(Buffer.from(stripScheme(reference, "inline"), "utf8"));
    },
  };
}

/** Dispatches on the reference's scheme (`env`, `file`, `vault`, …). */
export function createCompositeSecretResolver(
  bySchema: Record<string, SecretResolver>,
): SecretResolver {
  return {
    async resolve(reference, options) {
      const scheme = referenceScheme(reference);
      const resolver = scheme === undefined ? undefined : bySchema[scheme];
      if (resolver === undefined) {
        throw new CapflowError(
          "SECRET_NOT_FOUND",
          scheme === undefined
            ? `a secret reference starts with a scheme (${Object.keys(bySchema).join(", ")}), e.g. env:NAME; this one has none (not shown: it may be the secret itself)`
            : `no secret resolver for "${scheme}" references; known schemes: ${Object.keys(bySchema).join(", ")}${scheme === "inline" ? " (inline: is for tests; enable it with allowInline)" : ""}`,
          { context: { reference: describeRef(reference) } },
        );
      }
      return resolver.resolve(reference, options);
    },
  };
}

export interface DefaultSecretResolverOptions {
  /** Accept `inline:` references (tests only). Default false. */
  allowInline?: boolean;
  env?: Record<string, string | undefined>;
  /** Folder for relative `file:` references when the caller gives no `baseDir`. */
  baseDir?: string;
  /** Extra schemes, e.g. `{ vault: myVaultResolver }`. */
  extra?: Record<string, SecretResolver>;
}

/** `env:` and `file:` (plus `inline:` when allowed, plus your own schemes). */
export function createDefaultSecretResolver(
  options: DefaultSecretResolverOptions = {},
): SecretResolver {
  return createCompositeSecretResolver({
    env: createEnvSecretResolver(options.env),
    file: createFileSecretResolver(options.baseDir),
    ...(options.allowInline === true ? { inline: createInlineSecretResolver() } : {}),
    ...options.extra,
  });
}

function stripScheme(reference: string, scheme: string): string {
  if (!reference.startsWith(`${scheme}:`)) {
    throw new CapflowError(
      "SECRET_NOT_FOUND",
      `"${describeRef(reference)}" is not a ${scheme}: reference`,
      {
        context: { reference: describeRef(reference) },
      },
    );
  }
  return reference.slice(scheme.length + 1);
}

function notFound(reference: string, why: string): CapflowError {
  return new CapflowError("SECRET_NOT_FOUND", `secret ${reference} not found: ${why}`, {
    context: { reference },
  });
}
