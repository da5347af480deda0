/**
 * The message-pipeline functions the engine uses, in one place: the engine's view of
 * `message/` (render, codecs, extraction, status tables, routing, masking).
 */
import type { TransitionKind } from "../definition/step-transitions.ts";
import type { Outcome, Route } from "../definition/types.ts";
import { CapflowError, isCapflowError } from "../errors.ts";
import { chooseRoute, type RouteEnv } from "../message/choose-route.ts";
import type { StepRun } from "./step-run.ts";

export { evaluateExpression } from "../message/cel.ts";
export { codecFor } from "../message/codecs/codec-for.ts";
export { extractFields } from "../message/extract-fields.ts";
export { maskFields } from "../message/mask.ts";
export { renderMessage } from "../message/render-message.ts";
export type { RenderScope } from "../message/render-session.ts";

import { applyStatusTable as applyTable } from "../message/status-table.ts";

/** A partner answer's status, normalised: the code as text ("" when absent). */
export interface StatusResult {
  code: string;
  outcome: Outcome;
  retryable: boolean;
}

export function applyStatusTable(...args: Parameters<typeof applyTable>): StatusResult {
  const status = applyTable(...args);
  return { code: status.code ?? "", outcome: status.outcome, retryable: status.retryable };
}

export type RouteChoice =
  | { kind: "route"; to: string; via: Extract<TransitionKind, "route" | "otherwise"> }
  | { kind: "none" }
  | { kind: "error"; error: CapflowError };

/** The route to take, `none` when no route matches and there is no `otherwise`, or the error. */
export function routeFor(
  routes: readonly Route[] | undefined,
  otherwise: string | undefined,
  env: RouteEnv & { code?: string | null },
  run: StepRun,
): RouteChoice {
  try {
    const chosen = chooseRoute(routes ?? [], otherwise, env, run.errorContext());
    return { kind: "route", to: chosen.to, via: chosen.index === null ? "otherwise" : "route" };
  } catch (error) {
    if (isCapflowError(error, "ROUTE_NO_MATCH")) return { kind: "none" };
    if (isCapflowError(error)) return { kind: "error", error };
    return {
      kind: "error",
      error: new CapflowError("ROUTE_EVALUATION_FAILED", String(error), { cause: error }),
    };
  }
}
