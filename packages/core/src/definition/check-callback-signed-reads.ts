import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { ChannelDefinition } from "./types.ts";

/**
 * A callback signed over one JSON member or XML element (`jsonMember`, `xmlElement`) leaves the
 * rest of the body unsigned: anyone replaying a captured notification may change it. What settles
 * money must then be read inside the signed part: the instance (`correlation`), the notification's
 * id (`dedupeKey`, or a new id gets a replay applied again) and the status (`statusTable.code`).
 * Read from the expressions' text, `body.a.b` paths: a warning, as the signed element's place in
 * an XML body is known only by its name.
 */
export function checkCallbackSignedReads(channel: ChannelDefinition, file: string): Problem[] {
  if (channel.crypto.handler !== "configurable") return [];
  const options = channel.crypto.options ?? {};
  const signature = (options.callback as { signature?: unknown } | undefined)?.signature as
    | { canonical?: { kind?: unknown; member?: unknown; element?: unknown } }
    | undefined;
  const canonical = signature?.canonical;
  let inside: ((path: string[]) => boolean) | undefined;
  let signed = "";
  if (canonical?.kind === "jsonMember" && typeof canonical.member === "string") {
    const member = canonical.member;
    inside = (path) => path[0] === member;
    signed = `the JSON member ${member}`;
  } else if (canonical?.kind === "xmlElement" && typeof canonical.element === "string") {
    const element = canonical.element;
    inside = (path) => path.slice(0, -1).includes(element);
    signed = `the XML element <${element}>`;
  }
  if (inside === undefined) return [];
  const problems: Problem[] = [];
  for (const [name, callback] of Object.entries(channel.callbacks ?? {})) {
    const reads: [string, string | undefined][] = [
      ["correlation", callback.correlation],
      ["dedupeKey", callback.dedupeKey],
      ["statusTable/code", callback.statusTable?.code],
    ];
    for (const [what, expression] of reads) {
      if (typeof expression !== "string") continue;
      const outside = readPaths(expression).find((path) => !inside(path));
      const unsignedPart = outside
        ? `body.${outside.join(".")}`
        : /\b(headers|query)\b/.exec(expression)?.[0];
      if (unsignedPart === undefined) continue;
      problems.push({
        code: "callback-reads-unsigned",
        file,
        pointer: toPointer(["callbacks", name, ...what.split("/")]),
        severity: "warning",
        message: `${what} reads ${unsignedPart}, outside the signed part of the notification (${signed}): anyone replaying a captured notification can change it. Read it from inside the signed part, or have the funder sign it`,
      });
    }
  }
  return problems;
}

/** The `body.…` paths an expression reads, as segments after `body`. */
function readPaths(expression: string): string[][] {
  const paths: string[][] = [];
  for (const match of expression.matchAll(
    /(?<![\w.])body((?:\.[A-Za-z_]\w*|\[\s*["'][^"']*["']\s*\])+)/g,
  )) {
    const segments = [
      ...(match[1] ?? "").matchAll(/\.([A-Za-z_]\w*)|\[\s*["']([^"']*)["']\s*\]/g),
    ].map((segment) => segment[1] ?? segment[2] ?? "");
    paths.push(segments);
  }
  return paths;
}
