import type { BehaviorDefinition } from "../definition/types.ts";
import { type InstanceRecord, type InstanceStatus, isSettled } from "../ports/instance-store.ts";
import type { QuotaHoldState } from "../ports/routing.ts";

/**
 * What a change of a routed instance does to its quota holds ("money moved", precisely):
 * - consumed when it reaches a step marked `moneyMoved`, or a terminal `succeeded` step: the
 *   funder confirmed the money moved (a consumed hold never moves back);
 * - released when it ends `failed` (the funder confirmed nothing moved: that is what a `failed`
 *   step means), or `cancelled` before any money-moving call could have been sent;
 * - kept when it ends `manual`, or `cancelled` after a money-moving call may have gone out: an
 *   operator settles it by moving the instance to its succeeded or failed step;
 * - reserved again when an operator reopens a released instance.
 */
export function quotaHoldChange(
  behavior: BehaviorDefinition,
  from: InstanceRecord,
  to: { step: string; status: InstanceStatus },
): QuotaHoldState | undefined {
  if (from.routing === null || from.routing.quotas.length === 0) return undefined;
  if (to.status === "succeeded" || behavior.steps[to.step]?.moneyMoved === true) return "consumed";
  if (to.status === "failed") return "released";
  if (to.status === "cancelled") return mayHaveMovedMoney(behavior, from) ? undefined : "released";
  if (isSettled(from.status) && !isSettled(to.status)) return "reserved";
  return undefined;
}

/**
 * Whether a money-moving call of this instance may have reached the funder: one was entered and
 * left, or is the current step with an attempt made or in flight.
 */
export function mayHaveMovedMoney(behavior: BehaviorDefinition, record: InstanceRecord): boolean {
  const visits = (record.snapshot as { context?: { visits?: Record<string, number> } } | null)
    ?.context?.visits;
  for (const [code, step] of Object.entries(behavior.steps)) {
    if (step.kind !== "call" || step.movesMoney !== true) continue;
    const count = visits?.[code] ?? 0;
    if (count === 0) continue;
    const untouched =
      code === record.step && count === 1 && record.attempt === 0 && !record.inFlight;
    if (!untouched) return true;
  }
  return false;
}
