import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { checkClientKey } from "../change/check-client-key.ts";
import {
  type CheckSecretsOptions,
  checkChannelSecrets,
  clientCertificateWarnings,
} from "../change/check-secrets.ts";
import { CapflowError } from "../errors.ts";
import { parseJsonSource } from "./json-source.ts";
import { formatProblems, isError, type Problem, plural, sortProblems } from "./problem.ts";
import {
  type DefinitionDocument,
  type DefinitionSet,
  type ValidateDefinitionsOptions,
  validateDefinitions,
} from "./validate-definitions.ts";

/** File name endings of definition files; everything else in the folder is ignored. */
export const channelFileSuffix = ".channel.json";
export const behaviorFileSuffix = ".behavior.json";
export const productFileSuffix = ".product.json";
export const clientFileSuffix = ".client.json";

const definitionSuffixes = [
  channelFileSuffix,
  behaviorFileSuffix,
  productFileSuffix,
  clientFileSuffix,
];

export interface LoadDefinitionsOptions extends ValidateDefinitionsOptions {
  /**
   * Also load every channel's keys and certificates as a worker would, and every upstream
   * client's key as the intake would (`capflow validate --check-secrets`, and `capflow push` by
   * default): references that do not resolve are problems, certificates expiring soon (a
   * client's key given as a certificate too) are warnings.
   */
  checkSecrets?: CheckSecretsOptions;
}

/**
 * Loads every `*.channel.json`, `*.behavior.json`, `*.product.json` and `*.client.json` under a folder (recursively, in a stable
 * order; `node_modules` and dot folders are skipped), then validates them together. File paths
 * in problems are relative to `dir`, with `/` separators. Never throws for mistakes in the
 * definitions: they come back as `problems`. Throws `DEFINITION_NOT_FOUND` only when the folder
 * cannot be read.
 */
export async function loadDefinitions(
  dir: string,
  options: LoadDefinitionsOptions = {},
): Promise<DefinitionSet> {
  let files: string[];
  try {
    files = await listDefinitionFiles(dir);
  } catch (error) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `cannot read the definitions folder ${dir}; check the path`,
      { cause: error, context: { file: dir } },
    );
  }
  const sources = {
    channels: [] as DefinitionDocument[],
    behaviors: [] as DefinitionDocument[],
    products: [] as DefinitionDocument[],
    clients: [] as DefinitionDocument[],
  };
  const parseProblems: Problem[] = [];
  for (const path of files) {
    const file = relative(dir, path).split(sep).join("/");
    const parsed = parseJsonSource(file, await readFile(path, "utf8"));
    parseProblems.push(...parsed.problems);
    const source: DefinitionDocument = {
      file,
      definition: parsed.value,
      locate: parsed.locate,
      // Duplicate keys alone leave a well-formed value; syntax errors do not.
      unparsable: parsed.problems.some((problem) => problem.code === "syntax"),
    };
    if (file.endsWith(channelFileSuffix)) sources.channels.push(source);
    else if (file.endsWith(productFileSuffix)) sources.products.push(source);
    else if (file.endsWith(clientFileSuffix)) sources.clients.push(source);
    else sources.behaviors.push(source);
  }
  const result = validateDefinitions(sources, options);
  const secretProblems: Problem[] = [];
  if (options.checkSecrets !== undefined) {
    const files = new Map<string, string>();
    for (const source of sources.channels) {
      const code = (source.definition as { code?: unknown } | undefined)?.code;
      if (typeof code === "string" && !files.has(code)) files.set(code, source.file);
    }
    // A channel whose crypto options were refused has those problems already: its keys are not
    // loaded, which would only repeat them.
    const cryptoRefused = new Set(
      result.problems
        .filter(
          (problem) =>
            isError(problem) &&
            (problem.code === "crypto-options" || problem.code === "unknown-crypto-handler"),
        )
        .map((problem) => problem.file),
    );
    const found = await checkChannelSecrets(
      result.channels.map((definition) => {
        const file = files.get(definition.code)!;
        return { file, definition, cryptoRefused: cryptoRefused.has(file) };
      }),
      options.checkSecrets,
    );
    for (const problem of found) {
      const source = sources.channels.find((s) => s.file === problem.file);
      const position = source?.locate?.(problem.pointer);
      secretProblems.push(position === undefined ? problem : { ...problem, ...position });
    }
  }
  if (options.checkSecrets !== undefined) {
    for (const source of sources.clients) {
      const client = result.clients.find(
        (definition) => definition.id === (source.definition as { id?: unknown } | undefined)?.id,
      );
      if (client === undefined) continue;
      for (const problem of [
        ...(await checkClientKey(client, source.file, options.checkSecrets)),
        ...(await clientCertificateWarnings(client, source.file, options.checkSecrets)),
      ]) {
        const position = source.locate?.(problem.pointer);
        secretProblems.push(position === undefined ? problem : { ...problem, ...position });
      }
    }
  }
  return {
    ...result,
    problems: sortProblems([...parseProblems, ...result.problems, ...secretProblems]),
  };
}

/** Like {@link loadDefinitions}, but throws `DEFINITION_INVALID` listing every problem. */
export async function loadDefinitionsOrThrow(
  dir: string,
  options: LoadDefinitionsOptions = {},
): Promise<DefinitionSet> {
  const result = await loadDefinitions(dir, options);
  const errors = result.problems.filter(isError);
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new CapflowError(
      "DEFINITION_INVALID",
      `${plural(errors.length, "problem")} in the definitions under ${dir}; fix them (run \`capflow validate ${dir}\`):\n${formatProblems(errors)}`,
      { context: { file: first.file, pointer: first.pointer, problems: errors } },
    );
  }
  return result;
}

async function listDefinitionFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      found.push(...(await listDefinitionFiles(path)));
    } else if (definitionSuffixes.some((suffix) => entry.name.endsWith(suffix))) {
      found.push(path);
    }
  }
  return found;
}
