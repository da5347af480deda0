import type {
  InstanceStatus,
  OperatorActionKind,
  PreviewRefusal,
  QuotaHoldState,
} from "@capflow/core";

/**
 * `POST /v1/ops/instances/:id/preview`: what retry, move or cancel would do to the instance now,
 * by the engine's own rules (core's `OperatorActionPreview`, its time as ISO 8601 text).
 */
export interface ActionPreviewView {
  action: OperatorActionKind;
  /** The instance's version previewed: send it back as `expectedVersion` with the action. */
  version: number;
  /** False when the action would be refused (the reason is in `warnings`). */
  allowed: boolean;
  /** When not allowed: the error code the action would be refused with, and why. */
  refusal?: PreviewRefusal;
  from: { step: string; status: InstanceStatus };
  to: { step: string; status: InstanceStatus };
  /** When the engine would run the instance next; null: not scheduled. */
  nextRunAt: string | null;
  /** What the action resets: `attempt`, `lastError`, `inFlight`, `waitingFor`. */
  clears: string[];
  /** The state the action puts the instance's quota holds in; null: they stay as they are. */
  quota: QuotaHoldState | null;
  /** What an operator should know first (a call possibly in flight, a settled instance reopened). */
  warnings: string[];
}
