import type { Outcome, StatusMapping, StatusTable } from "../definition/types.ts";
import { CapflowError, type ErrorContext } from "../errors.ts";
import { celSummary, fromCelValue, isMissingKeyError, parseExpression } from "./cel.ts";
import type { ExtractionEnv } from "./extract-fields.ts";

export interface PartnerStatus {
  /** The partner's code as text (`"0000"`), or null when the response carries none. */
  code: string | null;
  outcome: Outcome;
  retryable: boolean;
  /** The partner documents that a request answered so was not processed. */
  notProcessed?: boolean;
  description?: string;
}

const unknownOutcome: StatusMapping = { outcome: "unknown" };

/**
 * Maps the partner's status code to a canonical outcome. The code expression is evaluated over
 * `{ body, headers, status }`; its value is compared as text (so `0` and `"0"` both match a `"0"`
 * entry). A missing code, or one not in the table, takes the table's default
 * (`{ outcome: "unknown" }` unless configured): an unknown answer is never taken as success.
 */
export function applyStatusTable(
  table: StatusTable,
  env: ExtractionEnv,
  context: ErrorContext = {},
): PartnerStatus {
  const expression = parseExpression(table.code, context);
  let code: string | null;
  try {
    const value = fromCelValue(expression.evaluate({ ...env }));
    code =
      value === null ? null : typeof value === "object" ? JSON.stringify(value) : String(value);
  } catch (error) {
    if (!isMissingKeyError(error)) {
      throw new CapflowError(
        "EXTRACT_FAILED",
        `The status code expression ${JSON.stringify(table.code)} failed: ${celSummary(error)}`,
        { context, cause: error },
      );
    }
    code = null;
  }
  const mapping: StatusMapping =
    (code !== null && Object.hasOwn(table.codes, code) ? table.codes[code] : undefined) ??
    table.default ??
    unknownOutcome;
  const status: PartnerStatus = {
    code,
    outcome: mapping.outcome,
    retryable: mapping.retryable ?? false,
  };
  if (mapping.notProcessed === true) status.notProcessed = true;
  if (mapping.description !== undefined) status.description = mapping.description;
  return status;
}

/**
 * Whether an answer is one the partner does not sign (the table's `unsigned` condition over the
 * answer as it arrived). A condition that cannot be evaluated on this answer (a field it reads is
 * missing) does not hold.
 */
export function isUnsignedAnswer(
  table: StatusTable,
  env: ExtractionEnv,
  context: ErrorContext = {},
): boolean {
  if (table.unsigned === undefined) return false;
  const expression = parseExpression(table.unsigned, context);
  try {
    return fromCelValue(expression.evaluate({ ...env })) === true;
  } catch (error) {
    if (isMissingKeyError(error)) return false;
    throw new CapflowError(
      "EXTRACT_FAILED",
      `The unsigned condition ${JSON.stringify(table.unsigned)} failed: ${celSummary(error)}`,
      { context, cause: error },
    );
  }
}
