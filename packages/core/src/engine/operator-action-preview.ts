import type { BehaviorDefinition, ChannelDefinition } from "../definition/types.ts";
import type { ErrorCode } from "../errors.ts";
import {
  type InstanceRecord,
  type InstanceStatus,
  isSettled,
  type StepLogEntry,
} from "../ports/instance-store.ts";
import type { QuotaHoldState } from "../ports/routing.ts";
import { quotaHoldChange } from "../routing/quota-effect.ts";
import { entrySchedule } from "./entry-schedule.ts";
import { unsafeResendOnMove } from "./resend-on-move.ts";

export type OperatorActionKind = "retry" | "move" | "cancel";

/** What an operator action would do to an instance as it is now, before anyone confirms it. */
export interface OperatorActionPreview {
  action: OperatorActionKind;
  /** False when the action would be refused as asked (the reason is in `warnings`). */
  allowed: boolean;
  /**
   * When not allowed: the code the action would be refused with (`INSTANCE_SETTLED`,
   * `INSTANCE_CALL_IN_FLIGHT`, `INSTANCE_FAILED_OVER`, `QUOTA_EXHAUSTED`, `DEFINITION_INVALID`
   * for a step the version lacks) and why.
   */
  refusal?: PreviewRefusal;
  from: { step: string; status: InstanceStatus };
  to: { step: string; status: InstanceStatus };
  /** When the engine would run the instance next; null: not scheduled. */
  nextRunAt: number | null;
  /** What the action resets: `attempt`, `lastError`, `inFlight`, `waitingFor`. */
  clears: string[];
  quota: QuotaHoldState | null;
  /** What an operator should know first (a call possibly in flight, a settled instance reopened). */
  warnings: string[];
}

/** Why an action previewed would be refused: the error's code, and the reason. */
export interface PreviewRefusal {
  code: ErrorCode;
  message: string;
}

/**
 * The effect of `retryNow`, `moveTo` or `cancel` (engine/operator-actions.ts) by the same rules
 * (entry schedule, quota holds), computed without committing anything. With the channel, a move
 * that would resend a call possibly in flight is judged by its interface's `idempotent`; with the
 * instance's history (`InstanceStore.history`), so is a move back to a call whose last attempt's
 * outcome no answer settled, as `moveTo` judges it (see `unsafeResendOnMove`). The rules that need
 * the store are applied after it: the business's other instances (an instance that failed over is
 * neither retried nor moved) by `previewFailedOver` (engine/failover-successor.ts), the room in
 * the quotas a reopening move reserves again by `previewReopenedQuotas`
 * (routing/reopened-quotas.ts). `callNotProcessed` previews a move the operator sends with it
 * (the partner confirmed it did not process the call): allowed as `moveTo` allows it, the
 * warning kept.
 */
export function previewOperatorAction(
  record: InstanceRecord,
  behavior: BehaviorDefinition,
  action: OperatorActionKind,
  now: number,
  targetStep?: string,
  channel?: ChannelDefinition,
  history?: readonly StepLogEntry[],
  callNotProcessed = false,
): OperatorActionPreview {
  const from = { step: record.step, status: record.status };
  const warnings: string[] = [];
  if (record.inFlight !== null) {
    warnings.push(
      `a call of step ${record.inFlight.step} may be in flight (serial ${record.inFlight.serial}); its outcome is unknown until queried`,
    );
  }
  if (action === "retry" || action === "cancel") {
    const settled = isSettled(record.status);
    const reason = `the instance is settled (${record.status}): only a move can reopen it`;
    if (settled) warnings.push(reason);
    const to =
      action === "retry"
        ? { step: record.step, status: record.status === "waiting" ? "waiting" : "active" }
        : { step: record.step, status: "cancelled" };
    const quota =
      action === "cancel"
        ? quotaHoldChange(behavior, record, { step: record.step, status: "cancelled" })
        : undefined;
    return {
      action,
      allowed: !settled,
      ...(settled ? { refusal: { code: "INSTANCE_SETTLED", message: reason } } : {}),
      from,
      to: to as { step: string; status: InstanceStatus },
      nextRunAt: action === "retry" ? now : null,
      clears: action === "cancel" ? ["waitingFor"] : [],
      quota: quota ?? null,
      warnings,
    };
  }
  const step = targetStep ?? "";
  const definition = Object.hasOwn(behavior.steps, step) ? behavior.steps[step] : undefined;
  if (definition === undefined) {
    const reason = `version ${record.behaviorVersion} has no step "${step}"; its steps: ${Object.keys(behavior.steps).join(", ")}`;
    return {
      action,
      allowed: false,
      refusal: { code: "DEFINITION_INVALID", message: reason },
      from,
      to: from,
      nextRunAt: record.nextRunAt,
      clears: [],
      quota: null,
      warnings: [...warnings, reason],
    };
  }
  const schedule = entrySchedule(definition, now);
  if (isSettled(record.status) && !isSettled(schedule.status)) {
    warnings.push(`the instance is settled (${record.status}): the move reopens it`);
  }
  const quota = quotaHoldChange(behavior, record, { step, status: schedule.status });
  // Refused unless the operator confirms the partner did not process the call (`callNotProcessed`).
  const resend = unsafeResendOnMove(record, step, behavior, channel, history);
  if (resend !== undefined) warnings.push(resend);
  const refused = resend !== undefined && !callNotProcessed;
  if (resend !== undefined && callNotProcessed) {
    warnings.push(
      `confirmed that the partner did not process it: ${step} sends the call again, with a new serial`,
    );
  }
  return {
    action,
    allowed: !refused,
    ...(refused ? { refusal: { code: "INSTANCE_CALL_IN_FLIGHT" as const, message: resend } } : {}),
    from,
    to: { step, status: schedule.status },
    nextRunAt: schedule.nextRunAt,
    clears: ["attempt", "lastError", "inFlight"],
    quota: quota ?? null,
    warnings,
  };
}
