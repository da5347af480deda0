/**
 * A problem found in a definition: where it is (file, JSON pointer, line and column when the
 * source text is known) and a plain message that says what to do. Loading and validation never
 * throw for user mistakes; they collect every problem so an author fixes them in one pass.
 */

/** Every problem code, with a one-line explanation (docs/authoring.md lists the fix for each). */
export const problemCodes = {
  syntax: "the file is not valid JSON (comments and trailing commas are allowed)",
  "duplicate-key": "a key appears twice in one object; the later one would silently win",
  schema: "the definition does not match its JSON Schema (unknown property, wrong type, bad value)",
  "duplicate-code": "two steps of one behavior have the same code",
  "duplicate-channel": "two channel files define the same channel code",
  "duplicate-behavior": "two behavior files define the same (channel, code) pair",
  "unknown-channel": "a behavior names a channel that is not defined",
  "unknown-step": "a step points to a step code that does not exist",
  "unreachable-step": "no path leads from the initial step to this step",
  "dead-end": "a step that is not terminal has nowhere to go once the partner answers",
  "terminal-has-routes": "a terminal step declares a way out; terminal steps end the instance",
  "endless-loop":
    "a loop of steps with no way out to a terminal step: an instance would never finish",
  "spin-cycle": "a loop of steps with no poll, callback or delay step: an instance would spin",
  "unknown-interface": "a step calls an interface the channel does not declare",
  "unknown-callback": "a callback step waits for a callback the channel does not declare",
  "unknown-calendar-interface":
    "the channel's calendar.interfaces names neither an interface nor a callback of the channel",
  "ambiguous-cutoff":
    "with workingDaysOnly, the calendar's cut-off falls after the day's first opening yet before most of its service time: the working day it ends is unclear",
  "callback-without-match":
    "a channel with several callbacks has one without a match: a notification of another kind posted to its URL would be applied there",
  "callback-unverified":
    "a channel's callbacks are opened with no signature (or no crypto at all): anyone could post a notification that settles an instance (a warning)",
  "callback-reads-unsigned":
    "a callback signed over one JSON member or XML element reads its instance, id or status outside it: a replay could change them (a warning)",
  "callback-without-deadline":
    "a callback step has no deadline: a lost callback would stall the instance",
  "unknown-outcome-unhandled":
    "a non-idempotent call has no onUnknownOutcome step: after a timeout the engine cannot ask",
  "query-call-may-park":
    "a call of a cached query has no onRetryExhausted: once its retries are used up the run parks for an operator instead of answering (a warning)",
  "unsafe-resend": "an unknown outcome or an exhausted poll leads to a non-idempotent call",
  "invalid-expression": "a CEL expression does not parse",
  "invalid-template": "a Handlebars template does not parse",
  "unknown-processor": "a template uses a processor (helper) that is not registered",
  "unknown-data":
    "a template reads a name that is neither template data nor a processor: it would render empty",
  "unknown-crypto-handler": "the channel names a crypto handler that is not registered",
  "crypto-options": "the crypto handler rejected its options",
  "future-values":
    "a scheduled change of a channel (future values) has a bad instant, changes its code, or would leave the channel invalid",
  "secret-unresolved":
    "a key or secret reference of the channel does not resolve (checked with --check-secrets, and by push)",
  "key-invalid": "a key or certificate of the channel resolves but cannot be loaded",
  "certificate-expiring":
    "a certificate a channel or an upstream client's signature key references expires within 30 days (--expiry-warning), or has expired (a warning)",
  "duplicate-product": "two product files define the same product code",
  "duplicate-product-channel": "a product lists one channel twice",
  "unknown-behavior": "a product or a quota names a behavior its channel does not define",
  "missing-amount": "a quota limits amounts but the product has no amount expression",
  "missing-customer": "customer routing is set but the product does not say who the customer is",
  "failover-outcome": "a terminal step that does not end failed is marked for failover",
  "unsafe-failover":
    "failover could follow a money-moving call: the business could be funded twice",
  "unknown-time-zone":
    "a channel's timeZone is not a zone the runtime knows: its day, and so its daily quotas and calendar, would be undefined",
  "unknown-charset":
    "a charset the engine cannot read or write (use a name such as UTF-8, GBK or GB18030)",
  "host-key-missing":
    "an SFTP statement source does not pin the server's host key: any server answering at the address would be trusted",
  "xml-options-missing":
    "an XML message without its xml options (root element): it would fail when it is rendered",
  "tls-settings":
    "the channel's tls settings are incomplete: a PEM client key without its certificate, or a PKCS#12 file without a password",
  "input-schema": "a behavior's input schema is not a JSON Schema ajv can compile",
  "undeclared-input":
    "a template or expression reads an input field the behavior's input schema does not declare",
  "duplicate-client": "two client files define the same upstream client id",
  "client-settings":
    "an upstream client's allow-list entry is not a CIDR, its key format does not suit its algorithm, or it may start something undefined",
} as const;

export type ProblemCode = keyof typeof problemCodes;

export interface Problem {
  code: ProblemCode;
  /** The file the problem is in, relative to the loaded folder; or e.g. `db:channel/lanbank`. */
  file: string;
  /** RFC 6901 JSON pointer into the file's definition, e.g. `/steps/apply/routes/0/to`. */
  pointer: string;
  /** 1-based line, when the source text is known. */
  line?: number;
  /** 1-based column, when the source text is known. */
  column?: number;
  /** What is wrong and what to do about it. */
  message: string;
  /** A warning is worth knowing but does not make the definitions unusable. Default `error`. */
  severity?: "error" | "warning";
}

/** Whether a problem makes the definitions unusable (every problem but a warning). */
export function isError(problem: Problem): boolean {
  return problem.severity !== "warning";
}

/**
 * Stable order: by file, then by position in the file when known; problems without a position
 * keep the order they were found in (Array.prototype.sort is stable).
 */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => {
    if (a.file !== b.file) return a.file < b.file ? -1 : 1;
    if (a.line !== undefined && b.line !== undefined) {
      if (a.line !== b.line) return a.line - b.line;
      return (a.column ?? 0) - (b.column ?? 0);
    }
    return 0;
  });
}

/**
 * Compiler-style report, one line per problem, files separated by a blank line; the location
 * comes first so terminals and editors can jump to it:
 *
 * ```text
 * lanbank/loan.behavior.json:12:9  step "query" does not exist; …  (/steps/apply/routes/0/to)  [unknown-step]
 *
 * 1 problem in 1 file
 * ```
 */
export function formatProblems(problems: readonly Problem[]): string {
  if (problems.length === 0) return "no problems\n";
  const lines: string[] = [];
  const files = new Set<string>();
  for (const problem of sortProblems(problems)) {
    if (!files.has(problem.file) && files.size > 0) lines.push("");
    files.add(problem.file);
    const position = problem.line === undefined ? "" : `:${problem.line}:${problem.column ?? 1}`;
    const label = isError(problem) ? "" : "warning: ";
    lines.push(
      `${problem.file}${position}  ${label}${problem.message}  (${problem.pointer || "/"})  [${problem.code}]`,
    );
  }
  const warnings = problems.filter((problem) => !isError(problem)).length;
  const errors = problems.length - warnings;
  const counts = [
    errors > 0 || warnings === 0 ? plural(errors, "problem") : "",
    warnings > 0 ? plural(warnings, "warning") : "",
  ].filter(Boolean);
  lines.push("", `${counts.join(" and ")} in ${plural(files.size, "file")}`, "");
  return lines.join("\n");
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
