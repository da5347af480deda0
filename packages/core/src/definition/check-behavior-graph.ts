import { DirectedGraph } from "graphology";
import { stronglyConnectedComponents } from "graphology-components";
import { bfsFromNode } from "graphology-traversal";
import { didYouMean } from "./closest-name.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import { type StepTransition, stepTransitions, waitingStepKinds } from "./step-transitions.ts";
import type { BehaviorDefinition } from "./types.ts";

/**
 * Structural checks of a behavior's step graph: unknown targets, unreachable steps, dead ends,
 * and loops that would spin without waiting.
 */
export function checkBehaviorGraph(behavior: BehaviorDefinition, file: string): Problem[] {
  const problems: Problem[] = [];
  const codes = Object.keys(behavior.steps);
  const known = new Set(codes);
  const transitions = new Map<string, StepTransition[]>();
  for (const [code, step] of Object.entries(behavior.steps)) {
    transitions.set(code, stepTransitions(step));
  }

  const initialKnown = known.has(behavior.initial);
  if (!initialKnown) {
    problems.push({
      code: "unknown-step",
      file,
      pointer: "/initial",
      message: `initial step "${behavior.initial}" does not exist${didYouMean(behavior.initial, codes)}; set "initial" to one of the codes under "steps"`,
    });
  }

  for (const [code, list] of transitions) {
    for (const transition of list) {
      if (known.has(transition.to)) continue;
      problems.push({
        code: "unknown-step",
        file,
        pointer: toPointer(["steps", code]) + transition.pointer,
        message: `step "${transition.to}" does not exist${didYouMean(transition.to, codes)}; define it under "steps" or fix the code`,
      });
    }
  }

  const deadEnds = new Set<string>();
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind !== "call" && step.kind !== "callback") continue;
    const hasRoutes = (step.routes?.length ?? 0) > 0 || step.otherwise !== undefined;
    if (hasRoutes) continue;
    deadEnds.add(code);
    const event = step.kind === "call" ? "the partner answers" : "the callback arrives";
    problems.push({
      code: "dead-end",
      file,
      pointer: toPointer(["steps", code]),
      message: `${step.kind} step "${code}" has nowhere to go when ${event}; add "routes" or "otherwise"`,
    });
  }

  const steps = linkGraph(codes, (code) => (transitions.get(code) ?? []).map(({ to }) => to));
  if (initialKnown) {
    const reached = new Set<string>();
    bfsFromNode(steps, behavior.initial, (code) => {
      reached.add(code);
    });
    for (const code of codes) {
      if (reached.has(code)) continue;
      problems.push({
        code: "unreachable-step",
        file,
        pointer: toPointer(["steps", code]),
        message: `step "${code}" cannot be reached from the initial step "${behavior.initial}"; route to it from another step or remove it`,
      });
    }
  }

  const order = new Map(codes.map((code, index) => [code, index]));
  const inDeclarationOrder = (components: string[][]) =>
    components
      .map((component) => component.sort((a, b) => order.get(a)! - order.get(b)!))
      .sort((a, b) => order.get(a[0]!)! - order.get(b[0]!)!);
  const isCycle = (graph: DirectedGraph, component: readonly string[]) =>
    component.length > 1 || graph.hasDirectedEdge(component[0]!, component[0]!);

  // A loop is safe when it passes through a step that waits: the clock paces it. Among the
  // other steps, any strongly connected component with a cycle would repeat without pause.
  const instant = steps.copy();
  for (const code of codes) {
    if (waitingStepKinds.has(behavior.steps[code]!.kind)) instant.dropNode(code);
  }
  const cycles = inDeclarationOrder(
    stronglyConnectedComponents(instant).filter((component) => isCycle(instant, component)),
  );
  for (const cycle of cycles) {
    const names = cycle.map((code) => `"${code}"`).join(", ");
    const first = cycle[0]!;
    problems.push({
      code: "spin-cycle",
      file,
      pointer: toPointer(["steps", first]),
      message:
        cycle.length === 1
          ? `step "${first}" leads back to itself without waiting: an instance would spin; go through a delay, poll or callback step instead`
          : `steps ${names} form a loop without a delay, poll or callback step: an instance would spin; put a waiting step in the loop`,
    });
  }

  // A loop nothing leaves (no transition out of it, no terminal step in it) holds an instance
  // forever, even when it waits on every turn.
  const endless = inDeclarationOrder(
    stronglyConnectedComponents(steps).filter((component) => {
      const members = new Set(component);
      const leaves = component.some((code) =>
        steps.outNeighbors(code).some((to) => !members.has(to)),
      );
      // A loop through a dead end is already reported there; the fix is the same.
      return isCycle(steps, component) && !leaves && !component.some((code) => deadEnds.has(code));
    }),
  );
  for (const loop of endless) {
    problems.push({
      code: "endless-loop",
      file,
      pointer: toPointer(["steps", loop[0]!]),
      message: `steps ${loop.map((code) => `"${code}"`).join(", ")} loop with no way to a terminal step: an instance would never finish; route one of them to a terminal step (e.g. manual review)`,
    });
  }

  return problems;
}

/** Steps linked by their transitions to known steps: one edge per pair, self-loops kept. */
function linkGraph(codes: readonly string[], targets: (code: string) => string[]): DirectedGraph {
  const graph = new DirectedGraph();
  for (const code of codes) graph.addNode(code);
  for (const code of codes) {
    for (const to of targets(code)) if (graph.hasNode(to)) graph.mergeEdge(code, to);
  }
  return graph;
}
