import { parseDuration } from "../definition/duration.ts";
import type { StepDefinition } from "../definition/types.ts";
import type { InstanceStatus } from "../ports/instance-store.ts";

/** Status and first run time of an instance entering `step` at `now`. */
export function entrySchedule(
  step: StepDefinition,
  now: number,
): { status: InstanceStatus; nextRunAt: number | null } {
  switch (step.kind) {
    case "call":
    case "decide":
      return { status: "active", nextRunAt: now };
    case "poll":
      return { status: "waiting", nextRunAt: now + parseDuration(step.schedule[0] ?? "0ms") };
    case "delay":
      return { status: "waiting", nextRunAt: now + parseDuration(step.duration) };
    case "callback": {
      const deadline = now + parseDuration(step.deadline);
      const firstPoll = step.poll?.schedule[0];
      return {
        status: "waiting",
        nextRunAt:
          firstPoll === undefined ? deadline : Math.min(deadline, now + parseDuration(firstPoll)),
      };
    }
    case "terminal":
      return { status: step.outcome, nextRunAt: null };
  }
}
