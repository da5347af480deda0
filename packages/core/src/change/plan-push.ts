import { type DefinitionDiff, diffDefinitions } from "./diff-definitions.ts";
import { analyzePushImpact, type BreakingChange, type PushImpactInput } from "./push-impact.ts";

/** What a push would change, and what it would break for running and new instances. */
export interface PushPlan {
  diff: DefinitionDiff;
  breaking: BreakingChange[];
}

/**
 * Plans a push of already validated definitions against what is stored and running: the diff
 * (`capflow diff`) and the breaking changes that make `capflow push` refuse unless forced.
 */
export async function planPush(input: PushImpactInput): Promise<PushPlan> {
  const [diff, breaking] = await Promise.all([
    diffDefinitions(input.incoming, input.definitions),
    analyzePushImpact(input),
  ]);
  return { diff, breaking };
}
