import { stepTransitions } from "../definition/step-transitions.ts";
import type { BehaviorDefinition } from "../definition/types.ts";
import type { ChannelCalendar } from "../ports/channel-calendar.ts";
import type { FlowControl } from "../runtime/flow-control/flow-control.ts";

/** Why a channel should not take new business now; undefined when it may. */
export async function unhealthyReason(
  channel: string,
  behavior: BehaviorDefinition,
  deps: { flow: FlowControl; calendar: ChannelCalendar; now: number },
): Promise<string | undefined> {
  const entry = entryInterface(behavior);
  if (entry !== undefined) {
    if (deps.flow.breakerState(channel, entry) === "open")
      return `circuit of ${entry} is open after repeated failures`;
    if (deps.flow.saturated(channel, entry)) return `${entry} is at its concurrency or rate limit`;
  }
  const calendar = await deps.calendar.isOpen(channel, deps.now);
  return calendar.open ? undefined : `calendar closed: ${calendar.reason}`;
}

const entryInterfaces = new WeakMap<BehaviorDefinition, string | null>();

/**
 * The interface a new instance calls first: of the first call or poll step reached from the
 * initial step (breadth first, in declaration order). Its breaker and limits tell whether the
 * channel can take new business.
 */
export function entryInterface(behavior: BehaviorDefinition): string | undefined {
  const cached = entryInterfaces.get(behavior);
  if (cached !== undefined) return cached ?? undefined;
  let found: string | null = null;
  const seen = new Set([behavior.initial]);
  const queue = [behavior.initial];
  while (queue.length > 0 && found === null) {
    const step = behavior.steps[queue.shift()!];
    if (step === undefined) continue;
    if (step.kind === "call" || step.kind === "poll") found = step.interface;
    for (const { to } of stepTransitions(step)) {
      if (!seen.has(to)) {
        seen.add(to);
        queue.push(to);
      }
    }
  }
  entryInterfaces.set(behavior, found);
  return found ?? undefined;
}
