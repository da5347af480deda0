import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import {
  CapflowError,
  type DefinitionSet,
  formatProblems,
  type Problem,
  type ProblemCode,
} from "@capflow/core";
import { ownEntry, parseJsonSource, sortProblems } from "@capflow/core/internal";
import { Ajv, type ErrorObject } from "ajv";
import { IANAZone } from "luxon";
import { columnNamesUnsaid } from "./column-names.ts";
import type { StatementDefinition } from "./statement-definition.ts";

/** File name ending of statement definitions; they live in the definitions folder with the rest. */
export const statementFileSuffix = ".statement.json";

export interface LoadedStatements {
  statements: StatementDefinition[];
  /** Every problem found, with file, JSON pointer, line and column. Empty when all is well. */
  problems: Problem[];
}

export interface LoadStatementsOptions {
  /**
   * The channels and behaviors loaded from the same folder (`loadDefinitions`): a statement that
   * names a channel or behavior missing there is a problem. Without it, names are not checked.
   */
  definitions?: Pick<DefinitionSet, "channels" | "behaviors">;
}

let validateStatement: ReturnType<Ajv["compile"]> | undefined;

/** The statement JSON Schema (`schema/statement.schema.json`, published with the package). */
export function statementSchema(): Record<string, unknown> {
  const file = new URL("../schema/statement.schema.json", import.meta.url);
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/**
 * Loads every `*.statement.json` under a folder (recursively, like `loadDefinitions`, which
 * leaves these files alone), checks each against the statement schema and its own rules (time
 * zone, patterns, columns), and returns the statements with every problem found.
 */
export async function loadStatements(
  dir: string,
  options: LoadStatementsOptions = {},
): Promise<LoadedStatements> {
  let files: string[];
  try {
    files = await listStatementFiles(dir);
  } catch (error) {
    throw new CapflowError(
      "DEFINITION_NOT_FOUND",
      `cannot read the definitions folder ${dir}; check the path`,
      { cause: error, context: { file: dir } },
    );
  }
  const statements: StatementDefinition[] = [];
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const path of files) {
    const file = relative(dir, path).split(sep).join("/");
    const parsed = parseJsonSource(file, await readFile(path, "utf8"));
    problems.push(...parsed.problems);
    if (parsed.problems.some((problem) => problem.code === "syntax")) continue;
    const found = checkStatement(parsed.value, file, options).map((problem) => ({
      ...problem,
      ...parsed.locate(problem.pointer),
    }));
    problems.push(...found);
    const { channel, code } = (parsed.value ?? {}) as { channel?: unknown; code?: unknown };
    const key = `${String(channel)}/${String(code)}`;
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        code: "duplicate-code",
        file,
        pointer: "/code",
        ...parsed.locate("/code"),
        message: `statement ${key} is also defined in ${first}; give each statement of a channel its own code`,
      });
      continue;
    }
    seen.set(key, file);
    if (found.length > 0) continue;
    const statement = parsed.value as StatementDefinition;
    statements.push(statement);
  }
  return { statements, problems: sortProblems(problems) };
}

/** Like {@link loadStatements}, but throws `STATEMENT_INVALID` listing every problem. */
export async function loadStatementsOrThrow(
  dir: string,
  options: LoadStatementsOptions = {},
): Promise<StatementDefinition[]> {
  const { statements, problems } = await loadStatements(dir, options);
  if (problems.length > 0) {
    throw new CapflowError(
      "STATEMENT_INVALID",
      `${problems.length} problem(s) in the statements under ${dir}; fix them:\n${formatProblems(problems)}`,
      { context: { file: problems[0]!.file, pointer: problems[0]!.pointer, problems } },
    );
  }
  return statements;
}

/** Checks one statement definition (already parsed): the schema, then its own rules. */
export function checkStatement(
  value: unknown,
  file: string,
  options: LoadStatementsOptions = {},
): Problem[] {
  validateStatement ??= new Ajv({ allErrors: true, strict: false }).compile(statementSchema());
  if (!validateStatement(value)) {
    return (validateStatement.errors ?? [])
      .filter((error) => error.keyword !== "if")
      .map((error) => schemaProblem(error, file));
  }
  const statement = value as StatementDefinition;
  const problems: Problem[] = [];
  const add = (code: ProblemCode, pointer: string, message: string) =>
    problems.push({ code, file, pointer, message });
  if (!IANAZone.isValidZone(statement.timeZone)) {
    add(
      "schema",
      "/timeZone",
      `unknown time zone ${statement.timeZone}; use an IANA name such as Asia/Shanghai`,
    );
  }
  for (const part of ["header", "footer"] as const) {
    const layout = statement[part];
    const totals = layout?.totals;
    if (layout === undefined || totals === undefined) continue;
    if ((totals.line ?? 0) >= layout.lines) {
      add(
        "schema",
        `/${part}/totals/line`,
        `the ${part} has ${layout.lines} line(s); totals.line counts from 0 among them`,
      );
    }
    if (totals.pattern !== undefined) {
      try {
        new RegExp(totals.pattern);
        if (!/\(\?<(count|amount)>/.test(totals.pattern)) {
          add(
            "schema",
            `/${part}/totals/pattern`,
            "the pattern needs a named group (?<count>…) or (?<amount>…)",
          );
        }
      } catch (error) {
        add(
          "schema",
          `/${part}/totals/pattern`,
          `not a regular expression: ${(error as Error).message}`,
        );
      }
    } else if (typeof totals.count === "string" || typeof totals.amount === "string") {
      add(
        "schema",
        `/${part}/totals`,
        "totals columns are 0-based positions in the totals line (column names do not apply to it)",
      );
    } else if (totals.count === undefined && totals.amount === undefined) {
      add("schema", `/${part}/totals`, "say where the totals are: count, amount, or a pattern");
    } else if (statement.format.kind === "fixed-width") {
      add(
        "schema",
        `/${part}/totals`,
        "a fixed-width file's totals line is read with a pattern (named groups count and amount)",
      );
    }
  }
  if (statement.format.kind === "fixed-width") {
    const fields = statement.format.fields;
    for (const [name, ref] of Object.entries(statement.columns)) {
      if (typeof ref !== "string" || !(ref in fields)) {
        add(
          "schema",
          `/columns/${name}`,
          `fixed-width columns name a field of format.fields (${Object.keys(fields).join(", ")})`,
        );
      }
    }
  }
  if (columnNamesUnsaid(statement)) {
    add(
      "schema",
      "/columnNames",
      "columns are given by position: say whether a line of column names follows the header (columnNames true or false), or the first data line could be taken for names",
    );
  }
  if (statement.columns.status !== undefined && statement.statuses === undefined) {
    add(
      "schema",
      "/statuses",
      "a status column needs statuses: the file's values -> ours (a value not listed is a malformed line)",
    );
  }
  if (statement.columns.status !== undefined && statement.impliedStatus !== undefined) {
    add(
      "schema",
      "/impliedStatus",
      "impliedStatus is for statements without a status column; this one reads each line's status",
    );
  }
  if (statement.columns.kind !== undefined && statement.kinds === undefined) {
    add("schema", "/kinds", "a kind column needs kinds: the file's values -> behavior codes");
  }
  for (const [value, behavior] of Object.entries(statement.kinds ?? {})) {
    if (!statement.behaviors.includes(behavior)) {
      add(
        "unknown-behavior",
        `/kinds/${escapePointer(value)}`,
        `kind ${value} maps to ${behavior}, which is not in behaviors`,
      );
    }
  }
  if (statement.source.kind === "sftp" && statement.source.hostKey === undefined) {
    const { host, port } = statement.source;
    add(
      "host-key-missing",
      "/source",
      `an SFTP source needs hostKey, the server's SHA-256 fingerprint, or any server answering at ${host} would be trusted with the statement: \`ssh-keyscan -p ${port ?? 22} ${host} | ssh-keygen -lf -\` prints it (SHA256:…); check it with the funder`,
    );
  }
  if (statement.compression !== "zip" && statement.zipEntry !== undefined) {
    add("schema", "/zipEntry", "zipEntry only applies with compression zip");
  }
  const definitions = options.definitions;
  if (definitions !== undefined) {
    if (!definitions.channels.some((channel) => channel.code === statement.channel)) {
      add(
        "unknown-channel",
        "/channel",
        `no channel ${statement.channel} is defined next to this statement`,
      );
    }
    const source = statement.source;
    const channel = definitions.channels.find((c) => c.code === statement.channel);
    if (source.kind === "interface" && channel !== undefined) {
      const iface = ownEntry(channel.interfaces, source.interface);
      if (iface === undefined) {
        add(
          "schema",
          "/source/interface",
          `channel ${statement.channel} has no interface ${source.interface} (it has ${Object.keys(channel.interfaces).join(", ")})`,
        );
      } else if (iface.idempotent === false) {
        add(
          "schema",
          "/source/interface",
          `interface ${source.interface} of channel ${statement.channel} is not idempotent: a statement may only come through an interface that is safe to call again`,
        );
      }
    }
    statement.behaviors.forEach((behavior, index) => {
      if (
        !definitions.behaviors.some((b) => b.channel === statement.channel && b.code === behavior)
      ) {
        add(
          "unknown-behavior",
          `/behaviors/${index}`,
          `channel ${statement.channel} has no behavior ${behavior}`,
        );
      }
    });
  }
  return problems;
}

function schemaProblem(error: ErrorObject, file: string): Problem {
  const params = error.params as Record<string, unknown>;
  let pointer = error.instancePath;
  let message = `${pointer || "the statement"} ${error.message ?? "is not valid"}`;
  if (error.keyword === "additionalProperties") {
    pointer = `${pointer}/${escapePointer(String(params.additionalProperty))}`;
    message = `unknown property ${String(params.additionalProperty)}`;
  } else if (error.keyword === "required") {
    message = `${error.instancePath || "the statement"} needs ${String(params.missingProperty)}`;
  } else if (error.keyword === "enum") {
    message = `${pointer} must be one of ${(params.allowedValues as unknown[]).join(", ")}`;
  }
  return { code: "schema", file, pointer, message };
}

function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

async function listStatementFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      found.push(...(await listStatementFiles(path)));
    } else if (entry.name.endsWith(statementFileSuffix)) {
      found.push(path);
    }
  }
  return found;
}
