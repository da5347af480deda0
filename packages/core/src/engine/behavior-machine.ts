import { type AnyStateMachine, assign, createMachine, transition } from "xstate";
import { stepTransitions } from "../definition/step-transitions.ts";
import type { BehaviorDefinition } from "../definition/types.ts";
import { CapflowError } from "../errors.ts";

/** What the engine persists per instance: the current step and the machine's own context. */
export interface MachineSnapshot {
  value: string;
  context: MachineContext;
}

export interface MachineContext {
  /** Times each step was entered: a new visit gets new serial numbers. */
  visits: Record<string, number>;
  /** When the current step was entered (epoch ms): deadlines count from it. */
  enteredAt: number;
}

type StepEvent = { type: `to:${string}`; at: number };

/**
 * A behavior version as an xstate machine: one state per step, one `to:<step>` event per edge of
 * the step graph, terminal steps final. The engine keeps no actor per instance: it restores the
 * persisted snapshot, computes the next one with xstate's pure `transition`, and stores it in the
 * same compare-and-set as the step log. So an edge the graph does not have cannot be taken.
 *
 * The machine has no guards and its only action is the context update below, so the target of an
 * event depends on the state alone: each (state, event) pair is resolved by xstate once and
 * remembered, which keeps xstate off the per-step hot path (it would cost ~40 µs per step).
 */
export class BehaviorMachine {
  readonly machine: AnyStateMachine;
  readonly #behavior: BehaviorDefinition;
  readonly #targets = new Map<string, string | null>();

  constructor(behavior: BehaviorDefinition, version: number) {
    this.#behavior = behavior;
    const states: Record<string, unknown> = {};
    const enter = assign(({ context, event }: { context: MachineContext; event: StepEvent }) =>
      enterContext(context, event.type.slice(3), event.at),
    );
    for (const [code, step] of Object.entries(behavior.steps)) {
      const on: Record<string, { target: string; actions: typeof enter; reenter: true }> = {};
      for (const t of stepTransitions(step))
        on[`to:${t.to}`] = { target: t.to, actions: enter, reenter: true };
      states[code] = step.kind === "terminal" ? { type: "final" } : { on };
    }
    this.machine = createMachine({
      id: `${behavior.channel}/${behavior.code}@${version}`,
      initial: behavior.initial,
      context: { visits: { [behavior.initial]: 1 }, enteredAt: 0 },
      // biome-ignore lint/suspicious/noExplicitAny: states are generated from data; xstate's config types are for literal machines
      states: states as any,
    });
  }

  initial(at: number): MachineSnapshot {
    return {
      value: this.#behavior.initial,
      context: { visits: { [this.#behavior.initial]: 1 }, enteredAt: at },
    };
  }

  /** The snapshot after leaving `from.value` for `to`; throws if the graph has no such edge. */
  advance(from: MachineSnapshot, to: string, at: number): MachineSnapshot {
    const key = `${from.value}\u0000${to}`;
    let target = this.#targets.get(key);
    if (target === undefined) {
      const state = this.machine.resolveState({ value: from.value, context: from.context });
      const event: StepEvent = { type: `to:${to}`, at };
      target = state.can(event)
        ? (transition(this.machine, state, event)[0].value as string)
        : null;
      this.#targets.set(key, target);
    }
    if (target !== to) {
      throw new CapflowError(
        "DEFINITION_INVALID",
        `step "${from.value}" has no way to "${to}" in ${this.machine.id}`,
        {
          context: { step: from.value, to },
        },
      );
    }
    return { value: to, context: enterContext(from.context, to, at) };
  }

  /** An operator's move to any step: outside the graph on purpose, and recorded as such. */
  moveTo(from: MachineSnapshot, to: string, at: number): MachineSnapshot {
    if (!Object.hasOwn(this.#behavior.steps, to)) {
      throw new CapflowError(
        "DEFINITION_INVALID",
        `step "${to}" does not exist in ${this.machine.id}`,
        {
          context: { step: to },
        },
      );
    }
    return {
      value: to,
      context: {
        visits: { ...from.context.visits, [to]: (from.context.visits[to] ?? 0) + 1 },
        enteredAt: at,
      },
    };
  }
}

/** The machine context after entering `step` at `at`: one more visit, a new entry time. */
function enterContext(context: MachineContext, step: string, at: number): MachineContext {
  return { visits: { ...context.visits, [step]: (context.visits[step] ?? 0) + 1 }, enteredAt: at };
}
