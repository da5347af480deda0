import type { ErrorClass } from "../definition/types.ts";
import type { StepLogEntry } from "../ports/instance-store.ts";

/** The last attempt of a call step whose outcome nothing established, as its history tells. */
export interface UnresolvedCall {
  step: string;
  attempt: number;
  serial: string;
  /** The version its intent produced. */
  version: number;
}

/** Failure classes that say the call may have reached the partner: its outcome is unknown. */
const unknownClasses: ReadonlySet<string> = new Set<Exclude<ErrorClass, "notSent">>([
  "unknownOutcome",
  "partnerRetryable",
  "invalidResponse",
]);

/**
 * Outcomes of a query or a notification that settle nothing: a schedule used up, a deadline
 * passed, recovery resends used up, or a partner code the status table does not know (`unknown`).
 */
const unsettledAnswers: ReadonlySet<string> = new Set([
  "exhausted",
  "resendsExhausted",
  "deadline",
  "unknown",
]);

/**
 * The last attempt of call step `step` when its outcome was never established, read from the
 * instance's history up to `upToVersion` (the version the caller decides on); undefined when the
 * step never sent anything or its last attempt was settled.
 *
 * Every send is preceded by an `intent` entry naming its serial (`StepRun.recordIntent`). The
 * attempt is settled by the call's own result when that is an answer or proves the request never
 * left (`notSent`); otherwise (`unknownOutcome` and the other failure classes, a park, a worker
 * that stopped before committing any result) only a later answer settles it: a query or a
 * notification whose outcome took a route of the behavior (a poll that proved the order was not
 * received included: it resends with a new intent). Polls still unsettled, a schedule used up, a
 * deadline and operator actions settle nothing: the attempt stays unresolved however the instance
 * got where it is (manual review after its queries were used up, a move elsewhere).
 */
export function unresolvedCall(
  history: readonly StepLogEntry[],
  step: string,
  upToVersion: number,
): UnresolvedCall | undefined {
  const entries = history.filter((entry) => entry.version <= upToVersion);
  let last = -1;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!;
    if (entry.step === step && entry.event === "intent") {
      last = i;
      break;
    }
  }
  if (last < 0) return undefined;
  const intent = entries[last]!;
  for (const entry of entries.slice(last + 1)) {
    if (settles(entry, step)) return undefined;
  }
  const serial = intent.outcome?.startsWith("serial:") ? intent.outcome.slice(7) : "?";
  return { step, attempt: intent.attempt, serial, version: intent.version };
}

/** Whether this entry, after the attempt's intent, establishes the attempt's outcome. */
function settles(entry: StepLogEntry, step: string): boolean {
  const outcome = entry.outcome ?? "";
  // The call's own result: an answer (routed or retried) or a request that never left.
  if (entry.step === step && (entry.event === "call" || entry.event === "retry")) {
    return outcome === "notSent" || (!unknownClasses.has(outcome) && outcome !== "unknown");
  }
  // A later answer that moved the instance on along one of its routes.
  const left = entry.toStep !== undefined;
  return (
    left && (entry.event === "poll" || entry.event === "callback") && !unsettledAnswers.has(outcome)
  );
}

/**
 * The last attempt of any call of interface `interfaceName` whose outcome was never established,
 * as `unresolvedCall` judges each step's. The history names an attempt by the step that sent it,
 * in the version it ran under, so a call renamed by a later version (`apply` in version 1,
 * `submit` in version 2) or sent by another step of the same interface still counts: the steps
 * looked up are `steps` (the call steps the caller knows to call it) and every step the history
 * records calling it (a call that reached the partner names its interface). The latest unsettled
 * attempt among them is returned.
 */
export function unresolvedCallOf(
  history: readonly StepLogEntry[],
  interfaceName: string,
  steps: Iterable<string>,
  upToVersion: number,
): UnresolvedCall | undefined {
  const candidates = new Set(steps);
  for (const entry of history) {
    if (entry.interface === interfaceName && entry.version <= upToVersion) {
      candidates.add(entry.step);
    }
  }
  let latest: UnresolvedCall | undefined;
  for (const step of candidates) {
    const unresolved = unresolvedCall(history, step, upToVersion);
    if (unresolved !== undefined && (latest === undefined || unresolved.version > latest.version)) {
      latest = unresolved;
    }
  }
  return latest;
}
