/**
 * The variables a CEL expression reads at its root (`inptu` in `inptu.amount > 0`): identifiers
 * outside string literals that follow no `.` and are not called, minus the names a macro binds
 * (`x` in `list.exists(x, x > 1)`), CEL's literals and its type names. The runtime treats an
 * unknown name as absent and the condition fails at run time; validation names it instead.
 */
export function rootNames(text: string): string[] {
  const code = text.replace(/"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'/g, '""');
  const bound = new Set<string>();
  for (const match of code.matchAll(
    /\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,/g,
  )) {
    bound.add(match[1]!);
  }
  const names = new Set<string>();
  for (const match of code.matchAll(/(^|[^.\w\s]|\s)\s*([A-Za-z_]\w*)/g)) {
    const before = code.slice(0, match.index! + match[0].length - match[2]!.length).trimEnd();
    if (before.endsWith(".") || before.endsWith(".?")) continue;
    const name = match[2]!;
    const after = code.slice(match.index! + match[0].length).trimStart();
    if (after.startsWith("(")) continue;
    if (celNames.has(name) || bound.has(name)) continue;
    names.add(name);
  }
  return [...names];
}

const celNames = new Set([
  "true",
  "false",
  "null",
  "in",
  "int",
  "uint",
  "double",
  "bool",
  "string",
  "bytes",
  "list",
  "map",
  "type",
  "dyn",
  "null_type",
]);
