import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Each package's public API is what docs/api.md lists, no more and no less: every name a
 * package's `src/index.ts` exports (values and types) appears in the first column of a table in
 * that package's section, and every name listed there is exported.
 */
const root = fileURLToPath(new URL("../../../", import.meta.url));
const packages = {
  "@capflow/core": "packages/core/src/index.ts",
  "@capflow/store-knex": "packages/store-knex/src/index.ts",
  "@capflow/lock-redis": "packages/lock-redis/src/index.ts",
  "@capflow/reconcile": "packages/reconcile/src/index.ts",
  "@capflow/testkit": "packages/testkit/src/index.ts",
  "@capflow/cli": "packages/cli/src/index.ts",
  "@capflow/server": "packages/server/src/index.ts",
  "@capflow/console": "packages/console/src/index.ts",
} as const;

/** Names exported by each entry file, resolved through re-exports (`export type *` included). */
function exportedNames(): Map<string, Set<string>> {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.json"),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  if (!config) throw new Error("cannot read tsconfig.json");
  const entries = Object.values(packages).map((file) => join(root, file));
  const program = ts.createProgram(entries, config.options);
  const checker = program.getTypeChecker();
  const names = new Map<string, Set<string>>();
  for (const [name, file] of Object.entries(packages)) {
    const source = program.getSourceFile(join(root, file));
    const symbol = source && checker.getSymbolAtLocation(source);
    if (!symbol) throw new Error(`cannot read the exports of ${file}`);
    names.set(name, new Set(checker.getExportsOfModule(symbol).map((s) => s.getName())));
  }
  return names;
}

/** Names in the first column of the tables under each `## \`package\`` heading of docs/api.md. */
async function documentedNames(): Promise<Map<string, Set<string>>> {
  const text = await readFile(join(root, "docs/api.md"), "utf8");
  const names = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of text.split("\n")) {
    const heading = /^## `(@capflow\/[a-z-]+)`/.exec(line);
    if (heading) {
      current = new Set();
      names.set(heading[1]!, current);
      continue;
    }
    const firstCell = /^\| ([^|]+) \|/.exec(line)?.[1];
    if (!current || !firstCell || firstCell === "export" || firstCell.startsWith("---")) continue;
    for (const match of firstCell.matchAll(/`([A-Za-z_$][\w$]*)`/g)) current.add(match[1]!);
  }
  return names;
}

describe("docs/api.md lists each package's public API", async () => {
  const exported = exportedNames();
  const documented = await documentedNames();
  for (const name of Object.keys(packages)) {
    it(name, () => {
      const code = [...(exported.get(name) ?? [])].sort();
      const docs = [...(documented.get(name) ?? [])].sort();
      const undocumented = code.filter((n) => !docs.includes(n));
      const notExported = docs.filter((n) => !code.includes(n));
      expect(
        { undocumented, notExported },
        `document new exports in docs/api.md (section ${name}), or stop exporting them (internals go to @capflow/core/internal)`,
      ).toEqual({ undocumented: [], notExported: [] });
    });
  }
});
