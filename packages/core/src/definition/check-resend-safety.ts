import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import { stepTransitions } from "./step-transitions.ts";
import type { BehaviorDefinition, CallStep, ChannelDefinition } from "./types.ts";

/**
 * A call the partner does not deduplicate must never be sent twice for one attempt: after an
 * unknown outcome the engine has to ask (query) before anything else. These checks catch the
 * definitions that would make it resend blindly, or leave it no way to ask.
 */
export function checkResendSafety(
  behavior: BehaviorDefinition,
  channel: ChannelDefinition,
  file: string,
): Problem[] {
  const problems: Problem[] = [];
  const isUnsafeCall = (code: string | undefined): boolean => {
    const step = code === undefined ? undefined : behavior.steps[code];
    return step?.kind === "call" && !isIdempotent(step, channel);
  };
  for (const [code, step] of Object.entries(behavior.steps)) {
    // A call to an unknown interface is already reported (`unknown-interface`).
    const knownInterface = step.kind === "call" && channel.interfaces[step.interface] !== undefined;
    if (step.kind === "call" && knownInterface && !isIdempotent(step, channel)) {
      if (step.onUnknownOutcome === undefined) {
        problems.push({
          code: "unknown-outcome-unhandled",
          file,
          pointer: toPointer(["steps", code]),
          message: `call step "${code}" is not idempotent and has no "onUnknownOutcome": after a timeout the engine could neither resend nor ask; add "onUnknownOutcome" (normally a query step) or mark the call idempotent if the partner deduplicates it`,
        });
      } else if (!isUnsafeCall(step.onUnknownOutcome)) {
        // The recovery query's own ways out (routes, otherwise) must not lead back into a
        // non-idempotent call: only `onNotReceived`, under its own checks, may resend.
        const query = behavior.steps[step.onUnknownOutcome];
        for (const edge of query ? stepTransitions(query) : []) {
          if ((edge.kind === "route" || edge.kind === "otherwise") && isUnsafeCall(edge.to)) {
            problems.push({
              code: "unsafe-resend",
              file,
              pointer: toPointer(["steps", step.onUnknownOutcome]) + edge.pointer,
              message: `"${step.onUnknownOutcome}" recovers the unknown outcome of "${code}" and routes to the non-idempotent call "${edge.to}": the request may have been processed, so this could send it twice; route to manual review, or resend through "onNotReceived" where the partner deduplicates by serial`,
            });
          }
        }
      }
      if (isUnsafeCall(step.onUnknownOutcome)) {
        problems.push({
          code: "unsafe-resend",
          file,
          pointer: toPointer(["steps", code, "onUnknownOutcome"]),
          message: `"onUnknownOutcome" of "${code}" goes to the non-idempotent call "${step.onUnknownOutcome}": the request may have been processed, so this could send it twice; go to a query step instead`,
        });
      }
    }
    if (step.kind === "poll" && step.onNotReceived !== undefined) {
      problems.push(...checkNotReceived(behavior, channel, file, code, step.onNotReceived.resend));
    }
    if (step.kind === "poll" && isUnsafeCall(step.onExhausted)) {
      problems.push({
        code: "unsafe-resend",
        file,
        pointer: toPointer(["steps", code, "onExhausted"]),
        message: `"onExhausted" of "${code}" goes to the non-idempotent call "${step.onExhausted}": the outcome is still unknown, so this could send it twice; go to manual review instead`,
      });
    }
  }
  return problems;
}

/**
 * A recovery resend goes back to the call whose unknown outcome this query recovers, and only to
 * one whose interface declares that the partner deduplicates by our serial.
 */
function checkNotReceived(
  behavior: BehaviorDefinition,
  channel: ChannelDefinition,
  file: string,
  code: string,
  resend: string,
): Problem[] {
  const target = behavior.steps[resend];
  // A step that does not exist is already reported (`unknown-step`).
  if (target === undefined) return [];
  const pointer = toPointer(["steps", code, "onNotReceived", "resend"]);
  const problem = (message: string): Problem[] => [
    { code: "unsafe-resend", file, pointer, message },
  ];
  if (target.kind !== "call")
    return problem(
      `"onNotReceived" of "${code}" names "${resend}", which is not a call step; name the call whose unknown outcome this query recovers`,
    );
  const iface = channel.interfaces[target.interface];
  if (iface === undefined) return [];
  if (iface.deduplicatesSerial === undefined)
    return problem(
      `"onNotReceived" of "${code}" resends "${resend}", but interface "${target.interface}" does not declare "deduplicatesSerial": resend only to a partner that deduplicates by our serial (declare it on the interface if its documentation says so), else route "order does not exist" to manual review`,
    );
  if (target.onUnknownOutcome !== code)
    return problem(
      `"onNotReceived" of "${code}" resends "${resend}", whose "onUnknownOutcome" is not "${code}": only the query that recovers a call's unknown outcome may resend it`,
    );
  return [];
}

function isIdempotent(step: CallStep, channel: ChannelDefinition): boolean {
  return step.idempotent ?? channel.interfaces[step.interface]?.idempotent ?? false;
}
