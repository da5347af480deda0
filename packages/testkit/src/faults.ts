import type { WireResponse } from "@capflow/core";
import type { CallbackSpec } from "./callback-sender.ts";
import type { ScriptedRequest } from "./endpoint.ts";
import type { RandomSource } from "./seeded-random.ts";

/**
 * The ways a funder misbehaves, each one a case the engine must survive without losing or
 * duplicating money. Whether the call was *processed* (the loan booked) matters most: the engine
 * cannot see it, and must never resend a non-idempotent call when it cannot know.
 */
export type Fault =
  /** Waits before processing: slow funders, and calls that overlap. */
  | { readonly kind: "latency"; readonly ms: number }
  /**
   * Processes the call (it is recorded as processed and its callbacks are sent) but never answers:
   * the socket is held until the client gives up. The unknown-outcome case.
   */
  | { readonly kind: "timeoutAfterProcessing" }
  /** Resets the connection (TCP RST) after reading the request, without processing it. */
  | { readonly kind: "resetBeforeProcessing" }
  /** Processes the call, then resets the connection instead of answering: unknown outcome. */
  | { readonly kind: "resetAfterProcessing" }
  /**
   * Answers with an HTTP error status (default 503) and an unsealed body, like a gateway would.
   * Not processed unless `afterProcessing` (a funder failing after booking).
   */
  | {
      readonly kind: "httpError";
      readonly status?: number;
      readonly body?: string;
      readonly afterProcessing?: boolean;
    }
  /** Processes the call, then answers with a body that cannot be opened or decoded. */
  | { readonly kind: "malformedBody"; readonly body?: string }
  /**
   * Processes the call, then answers with a sealed answer tampered after sealing, so verification
   * must fail. The default tampering alters the signature header or the longest base64/hex run in
   * the body; pass `tamper` for a scheme where that is not enough.
   */
  | { readonly kind: "badSignature"; readonly tamper?: (answer: WireResponse) => WireResponse }
  /** Delivers each callback of this call `copies` times (default 2), each retried until acknowledged. */
  | { readonly kind: "duplicateCallbacks"; readonly copies?: number }
  /** Delivers this call's callbacks in reverse order: the final notification before the intermediate. */
  | { readonly kind: "outOfOrderCallbacks" }
  /** Delivers this call's callbacks (first attempt) before answering the call. */
  | { readonly kind: "callbackBeforeResponse" };

export type FaultKind = Fault["kind"];

/** Every fault the mock funder can inject. */
export const faultKinds: readonly FaultKind[] = [
  "latency",
  "timeoutAfterProcessing",
  "resetBeforeProcessing",
  "resetAfterProcessing",
  "httpError",
  "malformedBody",
  "badSignature",
  "duplicateCallbacks",
  "outOfOrderCallbacks",
  "callbackBeforeResponse",
];

/** When to inject a fault. All given conditions must hold. */
export interface FaultRule {
  readonly fault: Fault;
  /** Only these calls of the endpoint, counted from 1 across all business keys. */
  readonly calls?: readonly number[];
  /** Only calls this predicate accepts. */
  readonly when?: (request: ScriptedRequest) => boolean;
  /**
   * The chance, in [0, 1], that a call passing the other conditions gets the fault. Drawn from the
   * mock's seeded generator, so a given seed replays the same faults. Default 1.
   */
  readonly probability?: number;
}

/** The fault for one call: the first rule whose conditions hold. */
export function chooseFault(
  rules: readonly FaultRule[],
  request: ScriptedRequest,
  random: RandomSource,
): Fault | undefined {
  for (const rule of rules) {
    if (rule.calls !== undefined && !rule.calls.includes(request.call)) continue;
    if (rule.when !== undefined && !rule.when(request)) continue;
    // Draw only for real probabilities, so adding a certain rule does not shift the others' draws.
    if (rule.probability !== undefined && rule.probability < 1 && random() >= rule.probability) {
      continue;
    }
    return rule.fault;
  }
  return undefined;
}

/** Whether a call with this fault is processed (its script runs, its callbacks are sent). */
export function faultLetsCallBeProcessed(fault: Fault | undefined): boolean {
  if (fault === undefined) return true;
  switch (fault.kind) {
    case "resetBeforeProcessing":
      return false;
    case "httpError":
      return fault.afterProcessing === true;
    default:
      return true;
  }
}

/** One callback to schedule for a call, after the call's fault has been applied. */
export interface ArrangedCallback {
  readonly spec: CallbackSpec;
  /** 1 for the original, 2, 3, … for duplicates. */
  readonly copy: number;
}

/**
 * The callbacks a processed call sends, in delivery order, with its fault applied: duplicated,
 * reversed (the final notification first, keeping the original timing slots), or sent at once
 * (before the answer).
 */
export function arrangeCallbacks(
  callbacks: readonly CallbackSpec[],
  fault: Fault | undefined,
): ArrangedCallback[] {
  const byDelay = [...callbacks].sort((a, b) => (a.delayMs ?? 0) - (b.delayMs ?? 0));
  switch (fault?.kind) {
    case "duplicateCallbacks": {
      const copies = Math.max(2, fault.copies ?? 2);
      return byDelay.flatMap((spec) =>
        Array.from({ length: copies }, (_, index) => ({ spec, copy: index + 1 })),
      );
    }
    case "outOfOrderCallbacks":
      return byDelay.map((slot, index) => {
        const spec = byDelay[byDelay.length - 1 - index] ?? slot;
        return { spec: withDelay(spec, slot.delayMs), copy: 1 };
      });
    case "callbackBeforeResponse":
      return byDelay.map((spec) => ({ spec: withDelay(spec, 0), copy: 1 }));
    default:
      return byDelay.map((spec) => ({ spec, copy: 1 }));
  }
}

function withDelay(spec: CallbackSpec, delayMs: number | undefined): CallbackSpec {
  const { delayMs: _ignored, ...rest } = spec;
  return delayMs === undefined ? rest : { ...rest, delayMs };
}
