import type { InstanceStatus } from "@capflow/core";
import { seededRandom } from "@capflow/testkit";

/**
 * The demo's scenario: a seeded mix of business records (credit applications, disbursements,
 * repayments) across the example funders, each with the way its funder behaves and the final
 * status the engine must reach. The same seed gives the same mix, run after run.
 */

/** Which call of a behavior a fault hits. */
export type CallRole = "apply" | "query" | "trial";

/** A fault of the mock funder kit, on one call of one case. */
export type CaseFault =
  | { readonly kind: "latency"; readonly ms: number; readonly on: CallRole }
  | {
      readonly kind:
        | "timeoutAfterProcessing"
        | "resetBeforeProcessing"
        | "resetAfterProcessing"
        | "malformedBody"
        | "badSignature"
        | "duplicateCallbacks"
        | "outOfOrderCallbacks"
        | "callbackBeforeResponse";
      readonly on: CallRole;
    }
  | { readonly kind: "httpError"; readonly status: number; readonly on: CallRole };

/** How the funder treats one case. */
export interface FunderPlan {
  /** What the funder decides in the end; `never`: it keeps answering "processing". */
  readonly decision: "approve" | "decline" | "never";
  /** The apply call is refused at once with a partner error code. */
  readonly refuseAtApply: boolean;
  /** Queries answer "processing" this many times before the decision. */
  readonly processingPolls: number;
  /** The funder notifies the result by callback (on channels that have callbacks). */
  readonly notify: boolean;
  /** A progress notification ("processing") before the result one. */
  readonly progressNotice: boolean;
  /** Repayments: nothing is due (the trial answers 0, or the amount is 0). */
  readonly nothingDue: boolean;
  /** The fault injected on the first call of its role (every call, for `latency`). */
  readonly fault?: CaseFault;
}

export interface ScenarioCase {
  /** The business key: application, loan or repayment number. */
  readonly key: string;
  readonly channel: string;
  readonly behavior: string;
  /** What the case shows, e.g. `timeout after processing`. */
  readonly kind: string;
  readonly plan: FunderPlan;
  readonly input: Record<string, unknown>;
  /** Other identifiers the funder sees for this case (e.g. the bank's loan number on a trial). */
  readonly aliases: readonly string[];
  /** The final status the engine must reach. */
  readonly expected: InstanceStatus;
}

/** One kind of case: its plan, where it applies, and the status it must end in. */
export interface CaseKind {
  readonly name: string;
  readonly plan: Partial<FunderPlan>;
  readonly expected: InstanceStatus;
  /** Behaviors (`channel/behavior`, `*` for any channel or behavior) the kind makes sense for. */
  readonly appliesTo: (behavior: BehaviorTraits) => boolean;
  /** Relative frequency in the random part of the mix. */
  readonly weight: number;
}

/** What the scenario needs to know about a behavior to choose cases for it. */
export interface BehaviorTraits {
  readonly channel: string;
  readonly behavior: string;
  /** The result comes by callback (with polling as a fallback). */
  readonly callbacks: boolean;
  /** Progress notifications ("processing") exist for this callback. */
  readonly progressNotices: boolean;
  /** Whether the apply call is idempotent (a resend after an unknown outcome is safe). */
  readonly idempotentApply: boolean;
  /** Repayments that can have nothing due. */
  readonly canBeNothingDue: boolean;
  /** A trial calculation call precedes the apply (Lan Bank repayments). */
  readonly trial: boolean;
}

const basePlan: FunderPlan = {
  decision: "approve",
  refuseAtApply: false,
  processingPolls: 0,
  notify: true,
  progressNotice: false,
  nothingDue: false,
};

const always = () => true;
const withCallbacks = (traits: BehaviorTraits) => traits.callbacks;

/**
 * Every kind of case. Each one is used at least once per behavior it applies to; the rest of the
 * mix is drawn by weight.
 */
export const caseKinds: readonly CaseKind[] = [
  { name: "approved", plan: {}, expected: "succeeded", appliesTo: always, weight: 30 },
  {
    name: "refused at apply",
    plan: { refuseAtApply: true },
    expected: "failed",
    appliesTo: always,
    weight: 4,
  },
  {
    name: "declined later",
    plan: { decision: "decline" },
    expected: "failed",
    appliesTo: always,
    weight: 4,
  },
  {
    name: "slow polls",
    plan: { notify: false, processingPolls: 2 },
    expected: "succeeded",
    appliesTo: always,
    weight: 6,
  },
  {
    name: "timeout after processing",
    plan: { fault: { kind: "timeoutAfterProcessing", on: "apply" } },
    expected: "succeeded",
    appliesTo: always,
    weight: 3,
  },
  {
    name: "reset after processing",
    plan: { fault: { kind: "resetAfterProcessing", on: "apply" } },
    expected: "succeeded",
    appliesTo: always,
    weight: 3,
  },
  {
    // The request never reached the funder, but the engine cannot know it: it must not resend a
    // non-idempotent call, so it asks, hears "no such order" until the schedule ends, and hands
    // the case to an operator. An idempotent call is resent with the same serial number.
    name: "reset before processing",
    plan: { fault: { kind: "resetBeforeProcessing", on: "apply" } },
    expected: "manual",
    appliesTo: (traits) => !traits.idempotentApply,
    weight: 1,
  },
  {
    name: "reset before processing (idempotent)",
    plan: { fault: { kind: "resetBeforeProcessing", on: "apply" } },
    expected: "succeeded",
    appliesTo: (traits) => traits.idempotentApply,
    weight: 1,
  },
  {
    name: "malformed answer",
    plan: { fault: { kind: "malformedBody", on: "apply" } },
    expected: "succeeded",
    appliesTo: always,
    weight: 1,
  },
  {
    name: "bad signature",
    plan: { fault: { kind: "badSignature", on: "apply" } },
    expected: "succeeded",
    appliesTo: always,
    weight: 1,
  },
  {
    name: "gateway error on query",
    plan: {
      notify: false,
      processingPolls: 1,
      fault: { kind: "httpError", status: 503, on: "query" },
    },
    expected: "succeeded",
    appliesTo: always,
    weight: 2,
  },
  {
    name: "slow funder",
    plan: { fault: { kind: "latency", ms: 4_000, on: "apply" } },
    expected: "succeeded",
    appliesTo: always,
    weight: 2,
  },
  {
    name: "duplicate callbacks",
    plan: { fault: { kind: "duplicateCallbacks", on: "apply" } },
    expected: "succeeded",
    appliesTo: withCallbacks,
    weight: 4,
  },
  {
    name: "out-of-order callbacks",
    plan: { progressNotice: true, fault: { kind: "outOfOrderCallbacks", on: "apply" } },
    expected: "succeeded",
    appliesTo: (traits) => traits.callbacks && traits.progressNotices,
    weight: 3,
  },
  {
    name: "callback before answer",
    plan: { fault: { kind: "callbackBeforeResponse", on: "apply" } },
    expected: "succeeded",
    appliesTo: withCallbacks,
    weight: 2,
  },
  {
    name: "lost callback",
    plan: { notify: false },
    expected: "succeeded",
    appliesTo: withCallbacks,
    weight: 2,
  },
  {
    name: "trial times out",
    plan: { fault: { kind: "timeoutAfterProcessing", on: "trial" } },
    expected: "succeeded",
    appliesTo: (traits) => traits.trial,
    weight: 1,
  },
  {
    name: "nothing due",
    plan: { nothingDue: true },
    expected: "cancelled",
    appliesTo: (traits) => traits.canBeNothingDue,
    weight: 2,
  },
  {
    // Manual review by design: the funder never decides within the whole poll schedule.
    name: "no decision in time",
    plan: { decision: "never", notify: false },
    expected: "manual",
    appliesTo: always,
    weight: 1,
  },
];

export interface ScenarioOptions {
  /** How many cases in all (at least one of each kind per behavior). */
  readonly total: number;
  readonly seed: number;
  /** The behaviors to spread the cases over, with a relative share each (default 1). */
  readonly behaviors: readonly (BehaviorTraits & { readonly share?: number })[];
  /** Only these kinds of case (by name). Default: all. */
  readonly kinds?: readonly string[];
  /** Builds a case's input from its business key (the example's own field names). */
  readonly inputFor: (traits: BehaviorTraits, key: string, plan: FunderPlan) => CaseInput;
}

export interface CaseInput {
  readonly input: Record<string, unknown>;
  readonly aliases?: readonly string[];
}

/** Builds the seeded mix: every applicable kind once per behavior, then weighted draws. */
export function buildScenario(options: ScenarioOptions): ScenarioCase[] {
  const random = seededRandom(options.seed);
  const kinds = caseKinds.filter((kind) => options.kinds?.includes(kind.name) ?? true);
  const cases: ScenarioCase[] = [];
  const counters = new Map<string, number>();
  const add = (traits: BehaviorTraits, kind: CaseKind) => {
    const prefix = `${traits.channel}-${traits.behavior}`;
    const n = (counters.get(prefix) ?? 0) + 1;
    counters.set(prefix, n);
    const key = `${keyPrefix(traits)}${String(n).padStart(4, "0")}`;
    const plan: FunderPlan = { ...basePlan, ...kind.plan };
    const { input, aliases = [] } = options.inputFor(traits, key, plan);
    cases.push({
      key,
      channel: traits.channel,
      behavior: traits.behavior,
      kind: kind.name,
      plan,
      input,
      aliases,
      expected: kind.expected,
    });
  };
  for (const traits of options.behaviors) {
    for (const kind of kinds) if (kind.appliesTo(traits)) add(traits, kind);
  }
  const shares = options.behaviors.map((traits) => traits.share ?? 1);
  const shareTotal = shares.reduce((sum, share) => sum + share, 0);
  while (cases.length < options.total) {
    const traits = pick(options.behaviors, shares, shareTotal, random);
    const applicable = kinds.filter((kind) => kind.appliesTo(traits));
    const weights = applicable.map((kind) => kind.weight);
    add(
      traits,
      pick(
        applicable,
        weights,
        weights.reduce((sum, weight) => sum + weight, 0),
        random,
      ),
    );
  }
  return cases;
}

function keyPrefix(traits: BehaviorTraits): string {
  const channel = traits.channel
    .replace(/[^a-z]/gi, "")
    .slice(0, 2)
    .toUpperCase();
  const behavior = traits.behavior.slice(0, 1).toUpperCase();
  return `${channel}${behavior}`;
}

function pick<T>(
  items: readonly T[],
  weights: readonly number[],
  total: number,
  random: () => number,
): T {
  let draw = random() * total;
  for (let index = 0; index < items.length; index++) {
    draw -= weights[index] ?? 0;
    if (draw < 0) return items[index]!;
  }
  return items[items.length - 1]!;
}
