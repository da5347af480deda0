import { singleSource } from "graphology-shortest-path/unweighted.js";
import { buildBehaviorGraph } from "./behavior-graph.ts";
import { toPointer } from "./json-pointer.ts";
import type { Problem } from "./problem.ts";
import type { BehaviorDefinition } from "./types.ts";

/** A way from a money-moving call to a `failover` step: failover there could lend twice. */
export interface FailoverAfterMoney {
  moneyStep: string;
  failoverStep: string;
  /** The shortest path, both ends included. */
  path: string[];
}

/**
 * Every `failover` step a money-moving call (`movesMoney`) leads to, with the shortest path. Such
 * a step could be reached after the funder received the request (an unknown outcome) or after the
 * money moved: failing over there could disburse the same business twice.
 */
export function failoverAfterMoney(behavior: BehaviorDefinition): FailoverAfterMoney[] {
  const failoverSteps = Object.entries(behavior.steps)
    .filter(([, step]) => step.kind === "terminal" && step.failover === true)
    .map(([code]) => code);
  const moneySteps = Object.entries(behavior.steps)
    .filter(([, step]) => step.kind === "call" && step.movesMoney === true)
    .map(([code]) => code);
  if (failoverSteps.length === 0 || moneySteps.length === 0) return [];
  const graph = buildBehaviorGraph(behavior);
  const found: FailoverAfterMoney[] = [];
  for (const moneyStep of moneySteps) {
    const paths = singleSource(graph, moneyStep);
    for (const failoverStep of failoverSteps) {
      const path = paths[failoverStep];
      if (path !== undefined) found.push({ moneyStep, failoverStep, path });
    }
  }
  return found;
}

/** A behavior's own money marks: `failover` only on `failed` steps no money-moving call leads to. */
export function checkMoneyMarks(behavior: BehaviorDefinition, file: string): Problem[] {
  const problems: Problem[] = [];
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind === "terminal" && step.failover === true && step.outcome !== "failed") {
      problems.push({
        code: "failover-outcome",
        file,
        pointer: toPointer(["steps", code, "failover"]),
        message: `terminal step "${code}" ends ${step.outcome}, so it cannot hand the business to another channel; mark only "failed" steps with "failover"`,
      });
    }
  }
  for (const { moneyStep, failoverStep, path } of failoverAfterMoney(behavior)) {
    problems.push({
      code: "unsafe-failover",
      file,
      pointer: toPointer(["steps", failoverStep, "failover"]),
      message: `"${failoverStep}" hands the business to another channel, but the money-moving call "${moneyStep}" leads to it (${path.join(" → ")}): the funder may have taken the money; remove "failover" here, or end at a step without it`,
    });
  }
  return problems;
}
