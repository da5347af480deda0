import { parseDuration } from "../definition/duration.ts";
import type { StepDefinition } from "../definition/types.ts";
import type { InstanceStatus } from "../ports/instance-store.ts";

export interface EntrySchedule {
  status: InstanceStatus;
  nextRunAt: number | null;
  /** The callback a callback step waits for: its arrival wakes the instance. */
  waitingFor: string | null;
}

/** Status, first run time and awaited callback of an instance entering `step` at `now`. */
export function entrySchedule(step: StepDefinition, now: number): EntrySchedule {
  switch (step.kind) {
    case "call":
    case "decide":
      return { status: "active", nextRunAt: now, waitingFor: null };
    case "poll":
      return {
        status: "waiting",
        nextRunAt: now + parseDuration(step.schedule[0] ?? "0ms"),
        waitingFor: null,
      };
    case "delay":
      return { status: "waiting", nextRunAt: now + parseDuration(step.duration), waitingFor: null };
    case "callback": {
      const deadline = now + parseDuration(step.deadline);
      const firstPoll = step.poll?.schedule[0];
      return {
        status: "waiting",
        nextRunAt:
          firstPoll === undefined ? deadline : Math.min(deadline, now + parseDuration(firstPoll)),
        waitingFor: step.callback,
      };
    }
    case "terminal":
      return { status: step.outcome, nextRunAt: null, waitingFor: null };
  }
}
