import type { DecideStep, DelayStep } from "../../definition/types.ts";
import { CapflowError } from "../../errors.ts";
import type { StepRun } from "../step-run.ts";
import { park } from "./call-step.ts";
import { chooseStepRoute } from "./route-choice.ts";
import type { StepDecision } from "./step-decision.ts";

/** A `decide` step: route on the instance's data alone. */
export function executeDecideStep(run: StepRun, step: DecideStep): StepDecision {
  const route = chooseStepRoute(
    step.routes,
    step.otherwise,
    { outcome: null, code: null, fields: {}, body: null, status: null, ...run.routeData() },
    run,
  );
  if (route.kind === "error") return park(run, null, route.error, undefined);
  if (route.kind === "none") {
    return park(
      run,
      null,
      new CapflowError("ROUTE_NO_MATCH", `no route of step "${run.stepCode}" matches`, {
        context: run.errorContext(),
      }),
      undefined,
    );
  }
  return { type: "leave", to: route.to, via: route.via, event: "transition" };
}

/** A `delay` step: its time has come (the engine scheduled it on entry). */
export function executeDelayStep(_run: StepRun, step: DelayStep): StepDecision {
  return { type: "leave", to: step.next, via: "next", event: "transition" };
}
