import type { Expression } from "../definition/types.ts";
import { CapflowError, type ErrorContext } from "../errors.ts";
import {
  celSummary,
  fromCelValue,
  isMissingKeyError,
  parseExpression,
  toCelVariables,
} from "./cel.ts";

/** What extraction expressions see: the opened response (or callback). */
export interface ExtractionEnv {
  body: unknown;
  headers: Record<string, string>;
  status?: number;
  query?: Record<string, string>;
}

/**
 * Evaluates each `extract` expression over `{ body, headers, status }` (and `query` for
 * callbacks). A field whose path is missing from the response yields `null` rather than failing:
 * partners leave optional fields out, and a route can test `fields.x == null`. Any other failure
 * (a type error, a bad function call) is `EXTRACT_FAILED` naming the field.
 */
export function extractFields(
  extract: Record<string, Expression>,
  env: ExtractionEnv,
  context: ErrorContext = {},
): Record<string, unknown> {
  const variables = toCelVariables({ ...env });
  const fields: Record<string, unknown> = {};
  for (const [field, text] of Object.entries(extract)) {
    const expression = parseExpression(text, { ...context, field });
    try {
      fields[field] = fromCelValue(expression.evaluateCel(variables));
    } catch (error) {
      if (isMissingKeyError(error)) {
        fields[field] = null;
        continue;
      }
      throw new CapflowError(
        "EXTRACT_FAILED",
        `Field "${field}" (${text}) could not be extracted from the response: ${celSummary(error)}`,
        { context: { ...context, field }, cause: error },
      );
    }
  }
  return fields;
}
