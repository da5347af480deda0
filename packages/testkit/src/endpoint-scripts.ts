import type { CallbackSpec } from "./callback-sender.ts";
import type { EndpointAnswer, EndpointScript, ScriptedRequest } from "./endpoint.ts";

/**
 * Ready-made endpoint scripts for the answers every funder gives: accepted, rejected, still
 * processing. Funders spell these differently; `createScriptHelpers` builds the same helpers for
 * another spelling, and the default ones use a common shape:
 *
 * ```ts
 * accept()                        // { code: "0000", message: "success", status: "SUCCESS" }
 * reject("E102", "card frozen")   // { code: "E102", message: "card frozen", status: "FAILED" }
 * processingThen(2, accept())     // PROCESSING for the first 2 polls of each loan, then SUCCESS
 * ```
 */

/** Extra fields of an answer body, fixed or computed from the call (e.g. echo the loan number). */
export type AnswerFields =
  | Readonly<Record<string, unknown>>
  | ((request: ScriptedRequest) => Readonly<Record<string, unknown>>);

/** How one funder spells its three basic answers. */
export interface AnswerShapes {
  accepted(fields: Readonly<Record<string, unknown>>): unknown;
  rejected(code: string, message: string, fields: Readonly<Record<string, unknown>>): unknown;
  processing(fields: Readonly<Record<string, unknown>>): unknown;
}

export const defaultAnswerShapes: AnswerShapes = {
  accepted: (fields) => ({ code: "0000", message: "success", status: "SUCCESS", ...fields }),
  rejected: (code, message, fields) => ({ code, message, status: "FAILED", ...fields }),
  processing: (fields) => ({
    code: "0000",
    message: "processing",
    status: "PROCESSING",
    ...fields,
  }),
};

export interface ScriptHelpers {
  /** Answers that the call succeeded. */
  accept(fields?: AnswerFields): EndpointScript;
  /** Answers that the call failed with a partner error code. */
  reject(code: string, message: string, fields?: AnswerFields): EndpointScript;
  /** Answers that the call is still being processed. */
  processing(fields?: AnswerFields): EndpointScript;
  /**
   * Answers "processing" to the first `polls` calls of each business key, then `final`. The
   * business key comes from the endpoint's (or the mock's) `businessKey` extractor; without one,
   * every call of the endpoint counts. `final` sees `n` counted from its own first call.
   */
  processingThen(
    polls: number,
    final: EndpointAnswer | EndpointScript,
    processingFields?: AnswerFields,
  ): EndpointScript;
}

export function createScriptHelpers(shapes: AnswerShapes): ScriptHelpers {
  const processing = (fields?: AnswerFields): EndpointScript => {
    return (request) => ({ body: shapes.processing(resolveFields(fields, request)) });
  };
  return {
    accept: (fields) => (request) => ({ body: shapes.accepted(resolveFields(fields, request)) }),
    reject: (code, message, fields) => (request) => ({
      body: shapes.rejected(code, message, resolveFields(fields, request)),
    }),
    processing,
    processingThen: (polls, final, processingFields) => {
      const stillProcessing = processing(processingFields);
      const settled = toScript(final);
      // The final script counts its own calls from 1, so scripts compose (`sequence` after polls).
      return (request) =>
        request.n <= polls
          ? stillProcessing(request)
          : settled({ ...request, n: request.n - polls });
    },
  };
}

const defaultHelpers = createScriptHelpers(defaultAnswerShapes);

/** `{ code: "0000", message: "success", status: "SUCCESS", ...fields }` */
export const accept: ScriptHelpers["accept"] = defaultHelpers.accept;
/** `{ code, message, status: "FAILED", ...fields }` */
export const reject: ScriptHelpers["reject"] = defaultHelpers.reject;
/** `{ code: "0000", message: "processing", status: "PROCESSING", ...fields }` */
export const processing: ScriptHelpers["processing"] = defaultHelpers.processing;
/** "processing" for the first `polls` calls of each business key, then `final`. */
export const processingThen: ScriptHelpers["processingThen"] = defaultHelpers.processingThen;

/**
 * Answers the n-th call of each business key with the n-th step; once the steps run out, the last
 * one repeats. `sequence([reject("E500", "busy"), accept()])`
 */
export function sequence(steps: readonly (EndpointAnswer | EndpointScript)[]): EndpointScript {
  if (steps.length === 0) throw new Error("sequence() needs at least one step");
  const scripts = steps.map(toScript);
  return (request) => {
    const index = Math.min(request.n, scripts.length) - 1;
    const script = scripts[index] ?? scripts[0]!;
    // Each step counts its own calls from 1 (the repeated last step: 1, 2, …), so steps compose.
    return script({ ...request, n: request.n - index });
  };
}

/**
 * Adds the callbacks a call triggers to a script's answer:
 * `withCallbacks(processing(), (request) => ({ body: { loanNo: …, status: "SUCCESS" }, delayMs: 50 }))`
 */
export function withCallbacks(
  answer: EndpointAnswer | EndpointScript,
  callbacks: (
    request: ScriptedRequest,
    answer: EndpointAnswer,
  ) => CallbackSpec | readonly CallbackSpec[],
): EndpointScript {
  const script = toScript(answer);
  return async (request) => {
    const answered = await script(request);
    const added = callbacks(request, answered);
    return {
      ...answered,
      callbacks: [...(answered.callbacks ?? []), ...(Array.isArray(added) ? added : [added])],
    };
  };
}

/** A canned answer as a script. */
export function toScript(answer: EndpointAnswer | EndpointScript): EndpointScript {
  return typeof answer === "function" ? answer : () => answer;
}

function resolveFields(
  fields: AnswerFields | undefined,
  request: ScriptedRequest,
): Readonly<Record<string, unknown>> {
  if (fields === undefined) return {};
  return typeof fields === "function" ? fields(request) : fields;
}
