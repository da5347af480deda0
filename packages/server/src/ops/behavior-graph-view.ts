import type { BehaviorDefinition } from "@capflow/core";
import { stepTransitions } from "@capflow/core/internal";

/**
 * A behavior version's steps and transitions, as the console draws them
 * (`GET /v1/ops/definitions/:channel/:behavior/:version/graph`, and `graph` of an instance's).
 */
export interface BehaviorGraphView {
  initial: string;
  nodes: { id: string; kind: string; outcome?: string }[];
  edges: { from: string; to: string; label: string }[];
}

export function behaviorGraphView(definition: BehaviorDefinition): BehaviorGraphView {
  const nodes: BehaviorGraphView["nodes"] = [];
  const edges: BehaviorGraphView["edges"] = [];
  for (const [id, step] of Object.entries(definition.steps)) {
    nodes.push({
      id,
      kind: step.kind,
      ...(step.kind === "terminal" ? { outcome: step.outcome } : {}),
    });
    for (const transition of stepTransitions(step)) {
      edges.push({
        from: id,
        to: transition.to,
        label: edgeLabel(transition.kind, transition.when),
      });
    }
  }
  return { initial: definition.initial, nodes, edges };
}

/** A route by its condition (shortened), a fallback by its kind. */
function edgeLabel(kind: string, when: string | undefined): string {
  if (when === undefined) return kind;
  return when.length > 28 ? `${when.slice(0, 27)}…` : when;
}
