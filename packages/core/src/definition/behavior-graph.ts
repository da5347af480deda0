import { MultiDirectedGraph } from "graphology";
import { type StepTransition, stepTransitions } from "./step-transitions.ts";
import type { BehaviorDefinition, StepDefinition } from "./types.ts";

export interface StepNodeAttributes {
  code: string;
  step: StepDefinition;
  /** Whether this is the behavior's initial step. */
  initial: boolean;
}

export type StepEdgeAttributes = Omit<StepTransition, "to"> & {
  /** Position among the step's transitions: graphology does not keep out-edges in order. */
  order: number;
};

export interface BehaviorGraphAttributes {
  channel: string;
  behavior: string;
  initial: string;
}

/**
 * A behavior as a directed multigraph (two steps can be linked twice, e.g. by a route and by
 * `otherwise`). Nodes are step codes in declaration order; edges are the step's transitions in
 * `order` giving the declaration order (routes first, then the fallbacks), which is the order
 * the engine tries them in; `graph.outEdges(step)` does not keep it.
 */
export type BehaviorGraph = MultiDirectedGraph<
  StepNodeAttributes,
  StepEdgeAttributes,
  BehaviorGraphAttributes
>;

/**
 * Builds the step graph. Transitions to unknown steps are left out: validation reports them
 * (`unknown-step`), and a graph is only used for definitions that passed validation.
 */
export function buildBehaviorGraph(behavior: BehaviorDefinition): BehaviorGraph {
  const graph: BehaviorGraph = new MultiDirectedGraph<
    StepNodeAttributes,
    StepEdgeAttributes,
    BehaviorGraphAttributes
  >();
  graph.replaceAttributes({
    channel: behavior.channel,
    behavior: behavior.code,
    initial: behavior.initial,
  });
  for (const [code, step] of Object.entries(behavior.steps)) {
    graph.addNode(code, { code, step, initial: code === behavior.initial });
  }
  for (const [code, step] of Object.entries(behavior.steps)) {
    stepTransitions(step).forEach((transition, index) => {
      if (!graph.hasNode(transition.to)) return;
      const { to, ...attributes } = transition;
      graph.addDirectedEdgeWithKey(`${code}#${index}`, code, to, { ...attributes, order: index });
    });
  }
  return graph;
}
