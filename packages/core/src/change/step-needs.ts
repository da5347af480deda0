import { stepTransitions } from "../definition/step-transitions.ts";
import type { BehaviorDefinition } from "../definition/types.ts";

/** What the steps of a behavior version need from their channel, by name, with the steps needing each. */
export interface ChannelNeeds {
  interfaces: Map<string, string[]>;
  callbacks: Map<string, string[]>;
}

/**
 * The steps an instance at one of `from` may still reach (those steps included): its future. An
 * instance only moves along the graph of its pinned version, so what these steps reference is all
 * it can ever need.
 */
export function reachableSteps(behavior: BehaviorDefinition, from: Iterable<string>): Set<string> {
  const reached = new Set<string>();
  const queue = [...from];
  while (queue.length > 0) {
    const code = queue.pop()!;
    if (reached.has(code)) continue;
    const step = behavior.steps[code];
    if (step === undefined) continue;
    reached.add(code);
    for (const transition of stepTransitions(step)) queue.push(transition.to);
  }
  return reached;
}

/** The interfaces and callbacks of the channel that `steps` use. */
export function channelNeeds(behavior: BehaviorDefinition, steps: Iterable<string>): ChannelNeeds {
  const needs: ChannelNeeds = { interfaces: new Map(), callbacks: new Map() };
  const add = (map: Map<string, string[]>, name: string, step: string) => {
    const users = map.get(name) ?? [];
    if (!users.includes(step)) users.push(step);
    map.set(name, users);
  };
  for (const code of steps) {
    const step = behavior.steps[code];
    if (step === undefined) continue;
    if (step.kind === "call" || step.kind === "poll") add(needs.interfaces, step.interface, code);
    if (step.kind === "callback") {
      add(needs.callbacks, step.callback, code);
      if (step.poll !== undefined) add(needs.interfaces, step.poll.interface, code);
    }
  }
  return needs;
}
