import { parseCel } from "../message/cel.ts";
import { didYouMean } from "./closest-name.ts";
import { rootNames } from "./expression-names.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type {
  BehaviorDefinition,
  ChannelDefinition,
  ResponseDefinition,
  StatusTable,
} from "./types.ts";

/** A CEL expression with what the runtime gives it to read, and what to call it in a message. */
interface ScopedExpression {
  pointer: string;
  text: string;
  /** Variables the runtime passes this expression (see the evaluating code named in each list). */
  names: readonly string[];
  /** What the expression is, for the message: "a route condition", "an extract expression". */
  what: string;
}

/** Route conditions (`engine/steps/route-choice.ts`): the answer or notification and the data. */
const routeNames = ["outcome", "code", "fields", "body", "status", "context", "input"] as const;
/** An answer's extract, status table code and `unsigned` condition (`partner-exchange.ts`). */
const answerNames = ["body", "headers", "status"] as const;
/** A notification's match, correlation, dedupe key, extract and status table (`receive-callback.ts`). */
const notificationNames = ["body", "headers", "query"] as const;
/** An account's `when` (`routing/choose-account.ts`). */
const accountNames = ["input"] as const;

/**
 * Every CEL expression reads only the variables the runtime gives it: a typo such as
 * `inptu.amount` or `answr.code` would fail (or read null) on every run and park the instance or
 * refuse every notification; validation names it with a suggestion instead. Expressions that do
 * not parse are left to the syntax check.
 */
export function checkExpressionNames(expressions: readonly ScopedExpression[], file: string) {
  const problems: Problem[] = [];
  for (const { pointer, text, names, what } of expressions) {
    try {
      parseCel(text);
    } catch {
      continue; // reported as invalid-expression
    }
    for (const name of rootNames(text)) {
      if (names.includes(name)) continue;
      problems.push({
        code: "invalid-expression",
        file,
        pointer,
        message: `CEL expression ${JSON.stringify(text)} reads "${name}", which ${what} does not see (${names.join(", ")})${didYouMean(name, names)}; fix the name`,
      });
    }
  }
  return problems;
}

/** A behavior's expressions: route conditions, and the extraction of each call's and poll's answer. */
export function behaviorScopedExpressions(behavior: BehaviorDefinition): ScopedExpression[] {
  const found: ScopedExpression[] = [];
  const route = (path: (string | number)[], text: string) => {
    found.push({ pointer: toPointer(path), text, names: routeNames, what: "a route condition" });
  };
  for (const [code, step] of Object.entries(behavior.steps)) {
    if ("routes" in step && step.routes !== undefined) {
      step.routes.forEach((entry, index) => {
        route(["steps", code, "routes", index, "when"], entry.when);
      });
    }
    if (step.kind === "poll" && step.onNotReceived !== undefined) {
      route(["steps", code, "onNotReceived", "when"], step.onNotReceived.when);
    }
    if (step.kind === "call" || step.kind === "poll") {
      addExtract(found, ["steps", code, "response"], step.response);
    }
    if (step.kind === "callback" && step.poll !== undefined) {
      addExtract(found, ["steps", code, "poll", "response"], step.poll.response);
    }
  }
  return found;
}

/**
 * A channel's expressions: status tables of answers, each callback's match, correlation, dedupe
 * key, extract and status table, and accounts' conditions.
 */
export function channelScopedExpressions(channel: ChannelDefinition): ScopedExpression[] {
  const found: ScopedExpression[] = [];
  addStatusTable(found, ["statusTable"], channel.statusTable, answerNames, "an answer's");
  for (const [name, definition] of Object.entries(channel.interfaces)) {
    addStatusTable(
      found,
      ["interfaces", name, "statusTable"],
      definition.statusTable,
      answerNames,
      "an answer's",
    );
  }
  for (const [name, callback] of Object.entries(channel.callbacks ?? {})) {
    const base = ["callbacks", name];
    const add = (key: string, text: string | undefined, what: string) => {
      if (text === undefined) return;
      found.push({ pointer: toPointer([...base, key]), text, names: notificationNames, what });
    };
    add("match", callback.match, "a callback's match");
    add("correlation", callback.correlation, "a callback's correlation");
    add("dedupeKey", callback.dedupeKey, "a callback's dedupe key");
    for (const [field, text] of Object.entries(callback.extract ?? {})) {
      found.push({
        pointer: toPointer([...base, "extract", field]),
        text,
        names: notificationNames,
        what: "a callback's extract expression",
      });
    }
    addStatusTable(
      found,
      [...base, "statusTable"],
      callback.statusTable,
      notificationNames,
      "a notification's",
    );
  }
  for (const [code, account] of Object.entries(channel.accounts ?? {})) {
    if (account.when === undefined) continue;
    found.push({
      pointer: toPointer(["accounts", code, "when"]),
      text: account.when,
      names: accountNames,
      what: "an account's condition",
    });
  }
  return found;
}

function addExtract(
  found: ScopedExpression[],
  base: (string | number)[],
  response: ResponseDefinition | undefined,
): void {
  for (const [field, text] of Object.entries(response?.extract ?? {})) {
    found.push({
      pointer: toPointer([...base, "extract", field]),
      text,
      names: answerNames,
      what: "an extract expression",
    });
  }
}

function addStatusTable(
  found: ScopedExpression[],
  base: (string | number)[],
  table: StatusTable | undefined,
  names: readonly string[],
  whose: string,
): void {
  if (table === undefined) return;
  found.push({
    pointer: toPointer([...base, "code"]),
    text: table.code,
    names,
    what: `${whose} status table code`,
  });
  if (table.unsigned !== undefined) {
    found.push({
      pointer: toPointer([...base, "unsigned"]),
      text: table.unsigned,
      names,
      what: `${whose} status table condition`,
    });
  }
}
