import type { Outcome, Route } from "../definition/types.ts";
import { CapflowError, type ErrorContext } from "../errors.ts";
import { celSummary, parseExpression, toCelVariables } from "./cel.ts";

/** What route conditions see. */
export interface RouteEnv {
  outcome?: Outcome | string | null;
  /** The partner's status code as text (from the status table), when there is an answer. */
  code?: string | null;
  fields?: Record<string, unknown>;
  body?: unknown;
  context?: Record<string, unknown>;
  input?: Record<string, unknown>;
  status?: number | null;
}

export interface ChosenRoute {
  to: string;
  /** Index of the matching route; null when `otherwise` was taken. */
  index: number | null;
}

/**
 * The first route whose condition holds, or undefined. A condition must evaluate to a boolean;
 * anything else (including a missing field: guard with `has(...)` or `.?x.orValue(...)`) is
 * `ROUTE_EVALUATION_FAILED` naming the step and route index — a route that cannot be decided must
 * stop the instance, not silently fall through to another route.
 */
export function findRoute(
  routes: readonly Route[],
  env: RouteEnv,
  context: ErrorContext = {},
): ChosenRoute | undefined {
  if (routes.length === 0) return undefined;
  const variables = toCelVariables({
    outcome: null,
    fields: {},
    body: null,
    context: {},
    input: {},
    status: null,
    ...env,
  });
  for (const [index, route] of routes.entries()) {
    const where: ErrorContext = { ...context, route: index };
    if (typeof context.step === "string" && context.pointer === undefined) {
      where.pointer = `/steps/${context.step}/routes/${index}`;
    }
    const expression = parseExpression(route.when, where);
    let result: unknown;
    try {
      result = expression.evaluateCel(variables);
    } catch (error) {
      throw new CapflowError(
        "ROUTE_EVALUATION_FAILED",
        `Route ${index} of step "${context.step ?? "?"}" (${route.when}) could not be evaluated: ${celSummary(error)}`,
        { context: where, cause: error },
      );
    }
    if (typeof result !== "boolean") {
      throw new CapflowError(
        "ROUTE_EVALUATION_FAILED",
        `Route ${index} of step "${context.step ?? "?"}" (${route.when}) gave ${typeof result === "bigint" ? "an int" : typeof result}, not a boolean; write a condition such as \`outcome == "succeeded"\`.`,
        { context: where },
      );
    }
    if (result) return { to: route.to, index };
  }
  return undefined;
}

/** {@link findRoute}, falling back to `otherwise`; `ROUTE_NO_MATCH` when there is neither. */
export function chooseRoute(
  routes: readonly Route[],
  otherwise: string | undefined,
  env: RouteEnv,
  context: ErrorContext = {},
): ChosenRoute {
  const found = findRoute(routes, env, context);
  if (found !== undefined) return found;
  if (otherwise !== undefined) return { to: otherwise, index: null };
  throw new CapflowError(
    "ROUTE_NO_MATCH",
    `No route of step "${context.step ?? "?"}" matched (outcome ${JSON.stringify(env.outcome ?? null)}) and it has no "otherwise"; add a route or an "otherwise" step.`,
    { context },
  );
}
