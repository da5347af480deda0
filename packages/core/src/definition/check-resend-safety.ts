import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
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
      } else if (isUnsafeCall(step.onUnknownOutcome)) {
        problems.push({
          code: "unsafe-resend",
          file,
          pointer: toPointer(["steps", code, "onUnknownOutcome"]),
          message: `"onUnknownOutcome" of "${code}" goes to the non-idempotent call "${step.onUnknownOutcome}": the request may have been processed, so this could send it twice; go to a query step instead`,
        });
      }
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

function isIdempotent(step: CallStep, channel: ChannelDefinition): boolean {
  return step.idempotent ?? channel.interfaces[step.interface]?.idempotent ?? false;
}
