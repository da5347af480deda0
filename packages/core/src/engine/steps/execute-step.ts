import type { StepRun } from "../step-run.ts";
import { executeCallStep } from "./call-step.ts";
import { executeCallbackStep } from "./callback-step.ts";
import { executeDecideStep, executeDelayStep } from "./decide-step.ts";
import { executePollStep } from "./poll-step.ts";
import type { StepDecision } from "./step-decision.ts";

/** Runs the current step's executor; a terminal step has nothing to do. */
export async function executeStep(run: StepRun): Promise<StepDecision> {
  const step = run.step;
  switch (step.kind) {
    case "call":
      return executeCallStep(run, step);
    case "poll":
      return executePollStep(run, step);
    case "callback":
      return executeCallbackStep(run, step);
    case "decide":
      return executeDecideStep(run, step);
    case "delay":
      return executeDelayStep(run, step);
    case "terminal":
      return { type: "stop", reason: "terminal" };
  }
}
