import type { TransitionKind } from "../../definition/step-transitions.ts";
import type { Route } from "../../definition/types.ts";
import { CapflowError, isCapflowError } from "../../errors.ts";
import { findRoute, type RouteEnv } from "../../message/choose-route.ts";
import type { StepRun } from "../step-run.ts";

export type RouteChoice =
  | { kind: "route"; to: string; via: Extract<TransitionKind, "route" | "otherwise"> }
  | { kind: "none" }
  | { kind: "error"; error: CapflowError };

/**
 * The route a step takes: the first route whose condition holds, else `otherwise`, else `none`
 * (each step executor decides what "no route" means for it). A condition that cannot be
 * evaluated is an `error`, never a silent fall-through to another route.
 */
export function chooseStepRoute(
  routes: readonly Route[] | undefined,
  otherwise: string | undefined,
  env: RouteEnv,
  run: StepRun,
): RouteChoice {
  let found: ReturnType<typeof findRoute>;
  try {
    found = findRoute(routes ?? [], env, run.errorContext());
  } catch (error) {
    return {
      kind: "error",
      error: isCapflowError(error)
        ? error
        : new CapflowError("ROUTE_EVALUATION_FAILED", String(error), { cause: error }),
    };
  }
  if (found) return { kind: "route", to: found.to, via: "route" };
  if (otherwise !== undefined) return { kind: "route", to: otherwise, via: "otherwise" };
  return { kind: "none" };
}
